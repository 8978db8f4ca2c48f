// Voicemails and callbacks: the case page's voicemail player (each play is audited by the server), and
// the list of callbacks owed in my languages, most urgent first, with their clocks, "Call back" and
// closing one by hand with a reason.
import { api } from "./api";
import { languageName } from "./calls";
import type { CallPanel } from "./calls";
import type { CaseDetail, Cases } from "./cases";
import { announce, h, utc, when } from "./dom";
import type { LiveEvents } from "./live";

interface Recording {
  id: number;
  callId: number;
  durationSeconds: number | null;
  status: string;
  twilioCopyDeleted: boolean;
  recordedAt: string;
}

interface CallbackItem {
  id: number;
  complaintId: number | null;
  caseNumber: string | null;
  languageCode: string | null;
  reason: string;
  dueAt: string;
  createdAt: string;
  attempts: number;
  lastOutcome: string | null;
  calling: boolean;
  restricted: boolean;
}

interface CallbackList {
  now: string;
  callbacks: CallbackItem[];
}

const owedBecause: Record<string, string> = {
  voicemail: "left a voicemail",
  abandoned_menu: "hung up in the menu",
  abandoned_ringing: "hung up while waiting",
};

const outcomes: Record<string, string> = {
  reached: "reached",
  "no-answer": "no answer",
  busy: "busy",
  failed: "did not go through",
  canceled: "withdrawn",
  staff_unreached: "you did not answer",
};

const handReasons: [string, string][] = [
  ["reached_by_text", "Reached by text"],
  ["reached_by_phone", "Reached by phone"],
  ["worker_called_again", "The worker called again"],
  ["not_needed", "No longer needed"],
  ["other", "Other (say how in the note)"],
];

// ---- voicemails on the case page ----

export function mountVoicemails(cases: Cases): void {
  cases.addPanel((detail) => void renderVoicemails(detail));
}

async function renderVoicemails(detail: CaseDetail): Promise<void> {
  const id = detail.complaint.id;
  let recordings: Recording[];
  try {
    recordings = await api.get<Recording[]>(`/console/api/complaints/${id}/recordings`);
  } catch {
    return;
  }
  const host = document.getElementById("case");
  if (!host || recordings.length === 0 || host.querySelector(`.voicemails[data-case="${id}"]`)) return;
  const section = h(
    "section",
    { class: "voicemails", "data-case": String(id), "aria-label": "Voicemails" },
    h("h3", {}, "Voicemails"),
    h("ol", {}, ...recordings.map(voicemail)),
  );
  const casework = document.getElementById("casework");
  if (casework?.parentElement === host) host.insertBefore(section, casework);
  else host.append(section);
}

function voicemail(recording: Recording): HTMLElement {
  const length = recording.durationSeconds === null ? "" : ` · ${recording.durationSeconds} s`;
  const label = `Voicemail of ${when(recording.recordedAt)}${length}`;
  if (recording.status !== "stored") {
    const why = recording.status === "failed" ? "could not be copied from Twilio" : "being copied into the hotline's storage";
    return h("li", { "data-recording": String(recording.id) }, `${label}: ${why}.`);
  }
  // preload none: the audio is fetched (and the play audited) only when someone presses play.
  return h(
    "li",
    { "data-recording": String(recording.id) },
    h("span", {}, label),
    h("audio", { controls: true, preload: "none", src: `/console/api/recordings/${recording.id}`, "aria-label": `Play the ${label.toLowerCase()}` }),
  );
}

// ---- the callback list ----

// What the last action on a callback said (kept across the list's re-renders).
const said = new Map<number, string>();

export function mountCallbacks(live: LiveEvents, calls: CallPanel): void {
  const list = h("ol", { id: "callback-rows", class: "callback-rows" });
  const count = h("span", { id: "callback-count" });
  // The page keeps a slot for the list in its worklist region (console.html).
  const section = document.getElementById("callbacks");
  if (!section) return;
  section.removeAttribute("aria-label");
  section.setAttribute("aria-labelledby", "callbacks-title");
  section.replaceChildren(h("h2", { id: "callbacks-title" }, "Callbacks owed ", count), list);
  section.hidden = false;

  let items: CallbackItem[] = [];
  let offset = 0; // server clock minus this browser's
  const render = () => {
    count.textContent = `(${items.length})`;
    // A form being filled in stays as it is until the list changes.
    if (list.contains(document.activeElement) && list.children.length === items.length) {
      for (const item of items) updateClock(list, item, offset);
      return;
    }
    list.replaceChildren(...items.map((item) => row(item, offset, calls, load)));
    if (items.length === 0) list.append(h("li", { class: "empty" }, "No callbacks owed in your languages."));
  };
  const load = async () => {
    const result = await api.get<CallbackList>("/console/api/callbacks");
    offset = new Date(result.now).getTime() - Date.now();
    items = result.callbacks;
    render();
  };
  let timer: number | undefined;
  live.on("callback.changed", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 150);
  });
  // The clocks tick; the list itself is refreshed by the events above.
  window.setInterval(() => {
    for (const item of items) updateClock(list, item, offset);
  }, 15_000);
  void load();
}

function clock(item: CallbackItem, offset: number): { text: string; state: string } {
  const left = Math.round((utc(item.dueAt).getTime() - (Date.now() + offset)) / 60_000);
  const due = `due ${when(item.dueAt)}`;
  if (left < 0) return { text: `${due} · breached ${-left} min ago`, state: "breached" };
  return { text: `${due} · ${left} min left`, state: left <= 10 ? "warning" : "ok" };
}

function updateClock(list: HTMLElement, item: CallbackItem, offset: number): void {
  const element = list.querySelector<HTMLElement>(`li[data-callback="${item.id}"] .clock`);
  if (!element) return;
  const { text, state } = clock(item, offset);
  element.textContent = text;
  element.dataset.state = state;
}

function row(item: CallbackItem, offset: number, calls: CallPanel, reload: () => Promise<void>): HTMLElement {
  const { text, state } = clock(item, offset);
  const caseLink = item.complaintId !== null && item.caseNumber !== null ? h("a", { href: `#case/${item.complaintId}` }, `Case ${item.caseNumber}`) : h("span", {}, "No case yet");
  const tries = item.attempts > 0 ? ` · ${item.attempts} attempt${item.attempts === 1 ? "" : "s"}, last: ${outcomes[item.lastOutcome ?? ""] ?? "in progress"}` : "";
  const status = h("span", { class: "callback-status", role: "status" }, said.get(item.id) ?? "");
  const tell = (text: string) => {
    said.set(item.id, text);
    // The list may have been re-rendered (a live event) while the request was under way.
    const shown = document.querySelector(`#callback-rows li[data-callback="${item.id}"] .callback-status`) ?? status;
    shown.textContent = text;
  };

  const callBack = h("button", { type: "button", class: "call-back", disabled: item.calling }, item.calling ? "Calling…" : "Call back");
  callBack.addEventListener("click", async () => {
    callBack.disabled = true;
    calls.expectCall();
    try {
      const started = await api.post<{ attemptId: number; message: string }>(`/console/api/callbacks/${item.id}/call`);
      tell(started.message);
      announce(started.message);
    } catch (error) {
      calls.expectCall(false);
      callBack.disabled = false;
      tell(error instanceof Error ? error.message : "The call could not be placed.");
    }
  });

  const reasonId = `cb-reason-${item.id}`;
  const noteId = `cb-note-${item.id}`;
  const reason = h("select", { id: reasonId }, h("option", { value: "" }, "Reason…"), ...handReasons.map(([value, label]) => h("option", { value }, label)));
  const note = h("input", { id: noteId, type: "text", maxlength: "10000", placeholder: "Note (optional)" });
  const close = h(
    "form",
    { class: "callback-close" },
    h("label", { for: reasonId }, "Close by hand"),
    reason,
    h("label", { for: noteId, class: "visually-hidden" }, "Note"),
    note,
    h("button", { type: "submit" }, "Close callback"),
  );
  close.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post(`/console/api/callbacks/${item.id}/close`, { reason: (reason as HTMLSelectElement).value || null, note: (note as HTMLInputElement).value });
      announce("Callback closed.");
      (document.activeElement as HTMLElement | null)?.blur();
      await reload();
    } catch (error) {
      tell(error instanceof Error ? error.message : "The callback could not be closed.");
    }
  });

  return h(
    "li",
    { "data-callback": String(item.id), "data-case": item.caseNumber ?? undefined },
    h("strong", {}, caseLink),
    ` · ${item.languageCode ? languageName(item.languageCode) : "language not chosen"} · ${owedBecause[item.reason] ?? item.reason}${tries} · `,
    h("span", { class: "clock", "data-state": state }, text),
    " ",
    callBack,
    close,
    status,
  );
}
