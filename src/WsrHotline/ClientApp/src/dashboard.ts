// The coordinators' escalation dashboard: the queue now (calls waiting, who is free, who covers each
// language), clocks due and breached, escalations per buyer, stalled cases, coverage gaps in the rota,
// counts and resolution times; refreshed live when the hub says something moved.
import { api, setCsrfToken } from "./api";
import { label } from "./cases";
import { announce, byId, h, when } from "./dom";
import { LiveEvents } from "./live";

interface ClockRow { deadlineId: number; complaintId: number; caseNumber: string; kind: string; dueAt: string; languageCode: string; severity: string; status: string; assignedTo: string | null; breachedAt: string | null; escalatedAt: string | null }
interface ClockList { total: number; clocks: ClockRow[] }
interface BuyerEscalationCount { buyerId: number | null; buyer: string; status: string; count: number }
interface FailedDelivery { escalationId: number; complaintId: number; caseNumber: string; buyer: string | null; channel: string; status: string; attempts: number; lastError: string | null; nextAttemptAt: string }
interface StalledComplaint { complaintId: number; caseNumber: string; status: string; severity: string; languageCode: string; lastActivityAt: string; daysQuiet: number }
interface StalledList { total: number; afterDays: number; complaints: StalledComplaint[] }
interface CoverageGap { languageCode: string; hourStart: string }
interface Count { key: string; label: string; value: number }
interface Counts { byStatus: Count[]; bySeverity: Count[]; byLanguage: Count[]; bySupplier: Count[]; byProvision: Count[]; asOf: string | null }
interface ResolutionTimes { resolved: number; medianDays: number | null; p80Days: number | null; withinFourteenDays: number; withinThirtyDays: number; asOf: string | null }
interface OutsideProgramSupplier { supplier: string; complaints: number; escalated: number }
interface UnconfiguredNumberTexts { total: number; days: number }
interface ReconciliationReport { unmatchedTotal: number }
interface SpoolCounts { waiting: number; setAside: number; oldestWaitingAt: string | null }
type QueueState = "available" | "on_call" | "wrap_up" | "busy" | "away" | "offline";
interface QueueStaff { staffId: number; displayName: string; state: QueueState; onPhoneShift: boolean }
interface QueueLanguage { languageCode: string; name: string; waiting: number; longestWaitSeconds: number | null; coveredNow: boolean; staff: QueueStaff[] }
interface QueueNow { asOf: string; languages: QueueLanguage[] }
interface SignedInStaff { csrfToken: string; displayName: string; hotlineLanguages: { code: string; nativeName: string }[] }

const filters = ["language", "severity", "status"] as const;

function query(): string {
  const parts = filters
    .map((name) => [name, byId<HTMLSelectElement>(`filter-${name}`).value] as const)
    .filter(([, value]) => value !== "")
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`);
  // "Opened in the last N days": from N days before now (the server reads whole days pre-counted).
  const days = Number(byId<HTMLSelectElement>("filter-opened").value);
  if (days > 0) parts.push(`from=${encodeURIComponent(new Date(Date.now() - days * 86_400_000).toISOString())}`);
  return parts.length ? "?" + parts.join("&") : "";
}

function caseLink(id: number, caseNumber: string): HTMLElement {
  return h("a", { href: `/console#case/${id}` }, caseNumber);
}

function table(caption: string, headers: string[], rows: (Node | string)[][], empty: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((cell) => h("td", {}, cell))))),
  );
}

/** A bar chart that is also a list: screen readers read label and value, eyes see the bars. */
function bars(title: string, items: { label: string; value: number; mark?: string }[], unit = ""): HTMLElement {
  const max = Math.max(1, ...items.map((item) => item.value));
  return h(
    "figure",
    { class: "bars" },
    h("figcaption", {}, title),
    h(
      "ul",
      {},
      ...items.map((item) =>
        h(
          "li",
          { class: item.mark ?? "" },
          h("span", { class: "bar-label" }, item.label),
          h("span", { class: "bar-fill", style: `width: ${Math.round((item.value / max) * 100)}%`, "aria-hidden": "true" }),
          h("span", { class: "bar-value" }, `${item.value}${unit}`),
        ),
      ),
    ),
  );
}

function tile(id: string, title: string, value: number, alarm: boolean): HTMLElement {
  return h("div", { class: `tile${alarm ? " alarm" : ""}`, id }, h("span", { class: "tile-value" }, String(value)), h("span", {}, title));
}

/** "42 s", "3 min 5 s", "1 h 2 min": how long the longest caller has waited. */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "Haitian Creole and Bengali", "English, Spanish and Bengali". */
function listed(names: string[]): string {
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** The covered-now tile: in alarm, naming them, while any language has nobody signed in and available nor on a phone shift. */
function coveredNowTile(queue: QueueNow): HTMLElement {
  const uncovered = queue.languages.filter((l) => !l.coveredNow).map((l) => l.name);
  const covered = queue.languages.length - uncovered.length;
  return h(
    "div",
    { class: `tile${uncovered.length > 0 ? " alarm" : ""}`, id: "tile-covered-now" },
    h("span", { class: "tile-value" }, `${covered}/${queue.languages.length}`),
    h("span", {}, uncovered.length > 0 ? `${listed(uncovered)} not covered now` : "every language covered now"),
  );
}

/** Who speaks the language in one state: a count, then the names (a phone shift marked). */
function people(staff: QueueStaff[], ...states: QueueState[]): HTMLElement {
  const these = staff.filter((s) => states.includes(s.state));
  const names = these.map((s) => s.displayName + (s.onPhoneShift ? " (phone shift)" : "") + (states.length > 1 ? ` (${label(s.state)})` : ""));
  return h("span", {}, h("span", { class: "queue-count" }, String(these.length)), names.length > 0 ? h("span", { class: "queue-names" }, names.join(", ")) : null);
}

function queueTable(queue: QueueNow): HTMLElement {
  return table(
    "Calls waiting and who speaks each language, now",
    ["Language", "Calls waiting", "Longest wait", "Available", "On a call", "Wrapping up", "Busy or away", "Offline", "Covered now"],
    queue.languages.map((l) => [
      l.name,
      String(l.waiting),
      l.longestWaitSeconds === null ? "" : duration(l.longestWaitSeconds),
      people(l.staff, "available"),
      people(l.staff, "on_call"),
      people(l.staff, "wrap_up"),
      people(l.staff, "busy", "away"),
      people(l.staff, "offline"),
      l.coveredNow ? "yes" : h("strong", { class: "not-covered" }, "not covered"),
    ]),
    "No hotline language is active.",
  );
}

/** The latest render started: an earlier one that finishes after it (an older filter) is dropped. */
let latestRender = 0;

async function render(): Promise<void> {
  const thisRender = ++latestRender;
  const q = query();
  const [queue, due, breached, escalations, failed, stalled, coverage, counts, resolution, outside, unconfigured, reconciliation, spool] = await Promise.all([
    api.get<QueueNow>("/dashboard/api/queue"),
    api.get<ClockList>(`/dashboard/api/clocks/due${q}`),
    api.get<ClockList>(`/dashboard/api/clocks/breached${q}`),
    api.get<BuyerEscalationCount[]>(`/dashboard/api/escalations${q}`),
    api.get<FailedDelivery[]>("/dashboard/api/escalations/failed"),
    api.get<StalledList>(`/dashboard/api/stalled${q}`),
    api.get<CoverageGap[]>("/dashboard/api/coverage"),
    api.get<Counts>(`/dashboard/api/counts${q}`),
    api.get<ResolutionTimes>(`/dashboard/api/resolution${q}`),
    api.get<OutsideProgramSupplier[]>(`/dashboard/api/outside-program${q}`),
    api.get<UnconfiguredNumberTexts>("/dashboard/api/unconfigured-numbers"),
    api.get<ReconciliationReport>("/dashboard/api/reconciliation"),
    api.get<SpoolCounts>("/dashboard/api/spool"),
  ]);
  if (thisRender !== latestRender) return;

  const waiting = queue.languages.reduce((sum, l) => sum + l.waiting, 0);
  const longest = Math.max(0, ...queue.languages.map((l) => l.longestWaitSeconds ?? 0));
  byId("tiles").replaceChildren(
    coveredNowTile(queue),
    tile("tile-waiting", waiting > 0 ? `calls waiting now, longest ${duration(longest)}` : "calls waiting now", waiting, false),
    tile("tile-breached", "clocks breached", breached.total, breached.total > 0),
    tile("tile-due", "clocks due in 24 h", due.total, false),
    tile("tile-stalled", `stalled (${stalled.afterDays}+ days quiet)`, stalled.total, stalled.total > 0),
    tile("tile-coverage", "hours without cover in the rota (72 h)", coverage.length, coverage.length > 0),
    tile("tile-failed", "escalations failed or dead", failed.length, failed.length > 0),
    // A number texting the hotline that the settings do not name: its texts are kept, the settings need fixing.
    tile("tile-unconfigured", `texts to an unconfigured number (${unconfigured.days} days)`, unconfigured.total, unconfigured.total > 0),
    tile("tile-unmatched-recordings", "recordings matching no voicemail", reconciliation.unmatchedTotal, reconciliation.unmatchedTotal > 0),
    // Webhooks kept while the database was down: waiting to be stored, or set aside because they never can be.
    tile("tile-spool", `webhooks waiting in the outage spool, ${spool.setAside} set aside`, spool.waiting, spool.setAside > 0),
  );

  byId("queue").replaceChildren(queueTable(queue));

  const clockRows = (list: ClockList) =>
    list.clocks.map((c) => [caseLink(c.complaintId, c.caseNumber), label(c.kind), when(c.dueAt), c.languageCode, label(c.severity), label(c.status), c.assignedTo ?? "unassigned", c.escalatedAt ? `escalated ${when(c.escalatedAt)}` : c.breachedAt ? "breached" : ""]);
  const clockHeaders = ["Case", "Clock", "Due", "Language", "Severity", "Status", "Assigned", "Escalation"];
  byId("breached").replaceChildren(table("Breached clocks", clockHeaders, clockRows(breached), "No clock is breached."));
  byId("due").replaceChildren(table("Clocks due in the next 24 hours", clockHeaders, clockRows(due), "Nothing is due in the next 24 hours."));
  byId("stalled").replaceChildren(
    table("Stalled complaints", ["Case", "Status", "Severity", "Language", "Last activity", "Days quiet"],
      stalled.complaints.map((c) => [caseLink(c.complaintId, c.caseNumber), label(c.status), label(c.severity), c.languageCode, when(c.lastActivityAt), String(c.daysQuiet)]),
      "No complaint is stalled."),
  );

  const buyers = [...new Set(escalations.map((e) => e.buyer))];
  const statuses = ["pending", "sent", "failed", "dead", "acknowledged", "action_taken"];
  byId("escalations").replaceChildren(
    table("Escalations per buyer", ["Buyer", ...statuses.map(label)],
      buyers.map((buyer) => [buyer, ...statuses.map((status) => String(escalations.find((e) => e.buyer === buyer && e.status === status)?.count ?? 0))]),
      "No escalation has been sent."),
    table("Deliveries failing or dead", ["Case", "Buyer", "Channel", "Status", "Attempts", "Last error", "Next attempt"],
      failed.map((f) => [caseLink(f.complaintId, f.caseNumber), f.buyer ?? "coordinators", f.channel, label(f.status), String(f.attempts), f.lastError ?? "", f.status === "dead" ? "given up" : when(f.nextAttemptAt)]),
      "Every delivery went through."),
  );
  byId("coverage").replaceChildren(
    table("Hours with nobody on call", ["Language", "Hour"], coverage.map((g) => [g.languageCode, when(g.hourStart)]), "Every language is covered for the next 72 hours."),
  );

  const marks = [
    { label: "Median", value: Math.round((resolution.medianDays ?? 0) * 10) / 10 },
    { label: "80th percentile", value: Math.round((resolution.p80Days ?? 0) * 10) / 10 },
    { label: "14-day mark", value: 14, mark: "target" },
    { label: "30-day mark", value: 30, mark: "target" },
  ];
  byId("resolution").replaceChildren(
    resolution.resolved === 0 ? h("p", { class: "empty" }, "No complaint was resolved in the last 90 days.") :
    bars(`Days to resolution, last 90 days (${resolution.resolved} resolved; ${resolution.withinFourteenDays} within 14 days, ${resolution.withinThirtyDays} within 30)`, marks, " d"),
  );
  const asCounts = (items: Count[]) => items.map((c) => ({ label: label(c.label), value: c.value }));
  byId("counts").replaceChildren(
    bars("By status", asCounts(counts.byStatus)),
    bars("By severity", asCounts(counts.bySeverity)),
    bars("By language", asCounts(counts.byLanguage)),
    bars("By provision", asCounts(counts.byProvision)),
    bars("By supplier", asCounts(counts.bySupplier)),
  );
  byId("outside").replaceChildren(
    table("Outside the Program (for the expansion report)", ["Employer", "Complaints", "Escalated to coordinators"],
      outside.map((o) => [o.supplier, String(o.complaints), String(o.escalated)]), "No complaint about an employer outside the Program."),
  );
  byId<HTMLAnchorElement>("export").href = `/dashboard/api/export.csv${q}`;
  byId("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function main(): Promise<void> {
  const me = await api.get<SignedInStaff>("/console/api/me");
  setCsrfToken(me.csrfToken);
  byId<HTMLInputElement>("signout-token").value = me.csrfToken;
  const language = byId<HTMLSelectElement>("filter-language");
  for (const l of me.hotlineLanguages) language.append(h("option", { value: l.code, lang: l.code }, l.nativeName));
  for (const name of [...filters, "opened"]) byId(`filter-${name}`).addEventListener("change", () => void render());

  let timer: number | undefined;
  const soon = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void render().catch(() => announce("The dashboard could not refresh.")), 400);
  };
  const live = new LiveEvents((state) => {
    const line = byId("connection");
    line.textContent = state === "connected" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Offline";
    line.dataset.state = state;
  });
  live.on("*", soon);
  await live.start();
  await render();
  // Clocks move with time too, not only with events.
  window.setInterval(soon, 60_000);
  document.body.dataset.ready = "true";
}

main().catch((error: unknown) => announce(`The dashboard could not start: ${error instanceof Error ? error.message : String(error)}`));
