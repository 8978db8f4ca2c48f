// The cases an investigator can see, and one case: its conversation (live), replies and timeline.
import { api, ApiError } from "./api";
import { languageName } from "./calls";
import { clockLine, tickClocks } from "./clocks";
import { announce, byId, h, utc, when } from "./dom";
import type { LiveEvents } from "./live";

export interface CaseListItem {
  id: number;
  caseNumber: string;
  status: string;
  severity: string;
  languageCode: string;
  channel: string;
  assignedTo: string | null;
  openedAt: string;
  lastActivityAt: string;
  restricted: boolean;
  nextClockKind: string | null;
  nextClockDueAt: string | null;
  nextClockWarned: boolean;
  nextClockBreached: boolean;
}

export interface ClockItem {
  id: number;
  kind: string;
  dueAt: string;
  warnedAt: string | null;
  breachedAt: string | null;
}

/** Zero-tolerance and retaliation cases stand out: a mark in words beside the case number. */
const severityMarks: Record<string, string> = { zero_tolerance: "Zero tolerance", retaliation: "Retaliation" };

export interface CaseDetail {
  complaint: Record<string, unknown> & { id: number; case_number: string; status: string; severity: string; language_code: string };
  provisions: { id: number; number: string; title: string; zero_tolerance: boolean }[];
  // The sentence is written by the server (LiveConsole/TimelineSentences.cs); details only for admins.
  timeline: { id: number; occurredAt: string; actorKind: string; actorName: string | null; kind: string; sentence: string; details: string | null }[];
  messages: { id: number; direction: string; channel: string; body: string | null; numMedia: number; status: string; errorCode: number | null; purpose: string | null; createdAt: string }[];
  media: MediaItem[];
  clocks: ClockItem[];
}

interface MediaItem {
  id: number;
  messageId: number;
  contentType: string;
  status: string;
  sizeBytes: number | null;
  refusedReason: string | null;
}

/** A worker's attachment: shown when it is kept, otherwise what became of it. */
function attachment(item: MediaItem): HTMLElement {
  const url = `/console/api/media/${item.id}`;
  if (item.status !== "stored") {
    const why = item.status === "refused" ? `refused (${item.refusedReason ?? "type"})` : item.status === "failed" ? "could not be fetched" : "being fetched";
    return h("span", { class: `attachment ${item.status}` }, `Attachment ${item.contentType}: ${why}`);
  }
  if (item.contentType.startsWith("image/")) return h("a", { href: url, target: "_blank", class: "attachment" }, h("img", { src: url, alt: "Photo sent by the worker", loading: "lazy" }));
  if (item.contentType.startsWith("audio/")) return h("audio", { controls: true, src: url, class: "attachment", "aria-label": "Voice note from the worker" });
  return h("a", { href: url, target: "_blank", class: "attachment" }, `Open attachment (${item.contentType})`);
}

interface Canned {
  id: string;
  label: string;
  text: string;
}

/** Other panels of the case page (case work) register here and are given each loaded case. */
export type CasePanel = (detail: CaseDetail, reload: () => Promise<void>) => void;

export class Cases {
  private openId: number | null = null;
  private readonly panels: CasePanel[] = [];
  private refreshTimer: number | undefined;

  constructor(live: LiveEvents) {
    const refresh = (complaintId: number | null) => {
      window.clearTimeout(this.refreshTimer);
      this.refreshTimer = window.setTimeout(() => void this.loadList(), 150);
      if (complaintId !== null && complaintId === this.openId) void this.open(complaintId, false);
    };
    for (const kind of ["message.received", "message.status", "complaint.changed", "call.answered", "call.offered", "clock.warning", "clock.breached"]) {
      live.on(kind, (e) => refresh(e.complaintId));
    }
    byId("case-filter").addEventListener("change", () => void this.loadList());
    tickClocks();
    window.addEventListener("hashchange", () => this.route());
  }

  addPanel(panel: CasePanel): void {
    this.panels.push(panel);
  }

  route(): void {
    const match = /^#case\/(\d+)$/.exec(window.location.hash);
    if (match) void this.open(Number(match[1]), true);
  }

  async loadList(): Promise<void> {
    const status = byId<HTMLSelectElement>("case-filter").value;
    const rows = await api.get<CaseListItem[]>(`/console/api/complaints?status=${encodeURIComponent(status)}`);
    const body = byId("case-rows");
    body.replaceChildren(
      ...rows.map((row) =>
        h(
          "tr",
          { "data-case": row.caseNumber, class: [row.id === this.openId ? "current" : "", severityMarks[row.severity] ? "severe" : ""].join(" ").trim() || undefined },
          h("td", {}, h("a", { href: `#case/${row.id}` }, row.caseNumber), severityMarks[row.severity] ? h("span", { class: `mark ${row.severity}` }, severityMarks[row.severity]) : null),
          h("td", {}, row.nextClockKind && row.nextClockDueAt ? clockLine(row.nextClockKind, row.nextClockDueAt, row.nextClockWarned, row.nextClockBreached) : "—"),
          h("td", {}, languageName(row.languageCode)),
          h("td", { class: "optional" }, row.channel),
          h("td", {}, label(row.status)),
          h("td", {}, label(row.severity)),
          h("td", { class: "optional" }, row.assignedTo ?? "—"),
          h("td", { class: "optional" }, when(row.lastActivityAt)),
        ),
      ),
    );
    byId("case-count").textContent = `${rows.length} case${rows.length === 1 ? "" : "s"}`;
  }

  async open(id: number, focus: boolean): Promise<void> {
    let detail: CaseDetail;
    try {
      detail = await api.get<CaseDetail>(`/console/api/complaints/${id}`);
    } catch (error) {
      const section = byId("case");
      section.hidden = false;
      section.replaceChildren(h("p", { role: "alert" }, error instanceof ApiError && error.status === 403 ? "This case is restricted to another team." : "This case could not be opened."));
      return;
    }
    this.openId = id;
    const c = detail.complaint;
    const section = byId("case");
    section.hidden = false;
    const heading = h("h2", { tabindex: "-1" }, `Case ${c.case_number}`);
    section.replaceChildren(
      heading,
      h("p", { class: "case-facts" }, `${languageName(c.language_code)} · ${label(c.status)} · ${label(c.severity)} · opened ${when(String(c.opened_at))}`,
        severityMarks[c.severity] ? h("span", { class: `mark ${c.severity}` }, severityMarks[c.severity]) : null),
      clocks(detail),
      // The conversation first: that is where an investigator answers a worker live.
      this.conversation(detail),
      h("div", { id: "casework" }),
      timeline(detail),
    );
    for (const panel of this.panels) panel(detail, () => this.open(id, false));
    if (focus) heading.focus();
  }

  private conversation(detail: CaseDetail): HTMLElement {
    const language = detail.complaint.language_code;
    const list = h(
      "ol",
      { class: "messages", "aria-label": "Conversation" },
      ...detail.messages.map((m) =>
        h(
          "li",
          { class: m.direction, "data-message-id": String(m.id) },
          h("p", { lang: m.direction === "inbound" ? language : language, dir: "auto" }, m.body ?? (m.numMedia > 0 ? "(attachment)" : "(empty)")),
          h(
            "small",
            {},
            `${m.direction === "inbound" ? "Worker" : m.purpose === "staff_reply" ? "Investigator" : "Hotline"} · ${m.channel} · ${when(m.createdAt)}`,
            m.direction === "outbound" ? h("span", { class: `delivery ${m.status}`, "data-status": m.status }, ` · ${m.status}${m.errorCode ? ` (error ${m.errorCode})` : ""}`) : null,
            m.numMedia > 0 ? ` · ${m.numMedia} attachment(s)` : null,
          ),
          ...detail.media.filter((item) => item.messageId === m.id).map(attachment),
        ),
      ),
    );
    const text = h("textarea", { id: "reply-text", name: "body", rows: "3", lang: language, dir: "auto", required: true, maxlength: "1600" });
    const canned = h("select", { id: "canned", "aria-label": "Canned responses" }, h("option", { value: "" }, "Canned response…"));
    void api.get<Canned[]>(`/console/api/canned/${language}`).then((items) => {
      for (const item of items) canned.append(h("option", { value: item.text }, item.label));
    });
    canned.addEventListener("change", () => {
      if (canned.value) (text as HTMLTextAreaElement).value = canned.value;
      text.focus();
    });
    const form = h(
      "form",
      { class: "reply" },
      h("label", { for: "reply-text" }, `Reply in ${languageName(language)}`),
      canned,
      text,
      h("button", { type: "submit" }, "Send reply"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api.post(`/console/api/complaints/${detail.complaint.id}/messages`, { body: (text as HTMLTextAreaElement).value });
        (text as HTMLTextAreaElement).value = "";
        announce("Reply queued.");
        await this.open(detail.complaint.id, false);
      } catch (error) {
        announce(error instanceof Error ? error.message : "The reply could not be queued.");
      }
    });
    return h("section", { class: "conversation", "aria-label": "Messages" }, h("h3", {}, "Messages"), list, form);
  }
}

function clocks(detail: CaseDetail): HTMLElement {
  return h(
    "section",
    { class: "case-clocks", "aria-label": "Clocks" },
    h("h3", {}, "Clocks"),
    detail.clocks.length === 0
      ? h("p", { class: "empty" }, "No clock is running.")
      : h("ul", { class: "clocks" }, ...detail.clocks.map((k) => h("li", {}, clockLine(k.kind, k.dueAt, k.warnedAt !== null, k.breachedAt !== null)))),
  );
}

// When it happened, in the browser's own time zone.
const happened = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });

function timeline(detail: CaseDetail): HTMLElement {
  return h(
    "section",
    { class: "timeline", "aria-label": "Timeline" },
    h("h3", {}, "Timeline"),
    h(
      "ol",
      {},
      ...detail.timeline.map((t) =>
        h(
          "li",
          { "data-kind": t.kind },
          h("time", { datetime: utc(t.occurredAt).toISOString() }, happened.format(utc(t.occurredAt))),
          " ",
          h("span", { class: "sentence" }, t.sentence),
          t.details !== null ? h("details", { class: "raw" }, h("summary", {}, "Raw entry"), h("code", {}, `${t.kind} ${t.details}`)) : null,
        ),
      ),
    ),
  );
}

export function label(value: string): string {
  return value.replaceAll("_", " ");
}
