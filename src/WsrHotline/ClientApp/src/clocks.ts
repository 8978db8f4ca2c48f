// Complaint clocks as investigators read them: what is due, when (the browser's local time), how long
// is left, and a mark in words (warning, breached) so it never rests on colour alone.
import { h, utc } from "./dom";

const clockNames: Record<string, string> = {
  acknowledged: "Acknowledgement",
  first_contact: "First contact",
  investigation_started: "Investigation start",
  resolution_proposed: "Resolution proposal",
  resolved: "Resolution",
  verified: "Verification",
  verification: "Verification",
  callback: "Callback",
};

export function clockName(kind: string): string {
  return clockNames[kind] ?? kind.replaceAll("_", " ");
}

const dueFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export function dueAt(iso: string): string {
  return dueFormat.format(utc(iso));
}

/** "3 min", "2 h 5 min", "4 days": a span of time, rounded for a person. */
function span(milliseconds: number): string {
  const minutes = Math.max(0, Math.round(Math.abs(milliseconds) / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  return `${Math.round(hours / 24)} days`;
}

type ClockState = "breached" | "warning" | "running";

function clockState(due: string, warned: boolean, breached: boolean, now = Date.now()): ClockState {
  if (breached || utc(due).getTime() <= now) return "breached";
  return warned ? "warning" : "running";
}

/** "42 min left" or "breached 3 h ago". */
export function timeLeft(due: string, now = Date.now()): string {
  const left = utc(due).getTime() - now;
  return left > 0 ? `${span(left)} left` : `overdue by ${span(left)}`;
}

/** One clock, as a line: name, due time, time left, and its mark. */
export function clockLine(kind: string, due: string, warned: boolean, breached: boolean): HTMLElement {
  const state = clockState(due, warned, breached);
  return h(
    "span",
    { class: `clock ${state}`, "data-clock": kind, "data-state": state, "data-due": due, "data-warned": String(warned), "data-breached": String(breached) },
    state === "breached" ? h("strong", { class: "mark" }, "BREACHED") : state === "warning" ? h("strong", { class: "mark" }, "WARNING") : null,
    ` ${clockName(kind)} due ${dueAt(due)} · ${timeLeft(due)}`,
  );
}

/** Keeps every clock on the page current (time left, and a clock that falls due turns breached). */
export function tickClocks(): void {
  window.setInterval(() => {
    for (const old of document.querySelectorAll<HTMLElement>(".clock[data-due]")) {
      const d = old.dataset;
      old.replaceWith(clockLine(d.clock ?? "", d.due ?? "", d.warned === "true", d.breached === "true"));
    }
  }, 30_000);
}
