// Case work on the case page: status, assignment, classification, supplier, confidentiality and the
// worker's disclosure decisions, the shareable summary, private notes, revealing the caller's number
// and (coordinators) restriction to a team. Every change is a POST to /console/api/complaints/{id}/…;
// the server refuses with a sentence, shown beside the control and in the page's status line.
import { api } from "./api";
import { label, type CaseDetail, type Cases } from "./cases";
import { announce, h, when } from "./dom";

interface Note {
  id: number;
  kind: string;
  body: string;
  staffId: number;
  staffName: string;
  createdAt: string;
}

interface Decision {
  id: number;
  decision: string;
  how: string;
  recordedBy: number;
  recordedByName: string;
  recordedAt: string;
}

interface Transition {
  to: string;
  requires: "Nothing" | "Outcome" | "Grounds" | "ReferredTo";
  coordinatorsOnly: boolean;
}

interface CaseWorkData {
  notes: Note[];
  decisions: Decision[];
  transitions: Transition[];
  shareableSummaryVersion: number;
}

interface Provision {
  id: number;
  number: string;
  title: string;
  zeroTolerance: boolean;
  codeVersion: string;
}

interface Supplier {
  id: number;
  name: string;
  country: string | null;
  sector: string | null;
  programStatus: string;
  buyers: { id: number; name: string }[];
}

interface StaffItem {
  id: number;
  displayName: string;
  role: string;
  team: string | null;
}

const requirementLabel: Record<Transition["requires"], string> = {
  Nothing: "",
  Outcome: "Outcome: what was done for the worker (required, kept as a private note)",
  Grounds: "Grounds for rejecting (required, kept as a private note)",
  ReferredTo: "Referred to whom (required, kept as a private note)",
};

const decisionLabel: Record<string, string> = {
  may_share_name_with_supplier: "may share their name with the supplier",
  may_share_details: "may share the details (not the name)",
  refuses_disclosure: "refuses any disclosure",
};

const noteKindLabel: Record<string, string> = {
  note: "Note",
  resolution_outcome: "Resolution outcome",
  rejection_grounds: "Grounds for rejection",
  referral: "Referral",
};

// Reference data, fetched once per page.
let provisions: Promise<Provision[]> | null = null;
let suppliers: Promise<Supplier[]> | null = null;
let staff: Promise<StaffItem[]> | null = null;
let myId: Promise<number> | null = null;

// The caller's number, once revealed, stays shown on that case until the investigator navigates away.
let revealed: { complaintId: number; phone: string } | null = null;
// The control to give focus back to after a change re-renders the case.
let focusAfterRender: string | null = null;
// A live event re-renders the open case: what the investigator was typing (per case and control)
// and where they were stay, until the form is sent.
const drafts = new Map<string, string>();
let lastFocused: string | null = null;

export function mountCaseWork(cases: Cases, role: string): void {
  const coordinator = role === "coordinator" || role === "admin";
  window.addEventListener("hashchange", () => {
    revealed = null;
    document.getElementById("cw-revealed")?.remove();
  });
  document.addEventListener("focusin", (event) => {
    const target = event.target as HTMLElement | null;
    lastFocused = target?.closest("#casework") && target.id ? target.id : null;
  });
  cases.addPanel((detail, reload) => void render(detail, reload, coordinator));
}

async function render(detail: CaseDetail, reload: () => Promise<void>, coordinator: boolean): Promise<void> {
  const container = document.getElementById("casework");
  if (!container) return;
  const id = detail.complaint.id;
  provisions ??= api.get<Provision[]>("/console/api/provisions");
  suppliers ??= api.get<Supplier[]>("/console/api/suppliers");
  staff ??= api.get<StaffItem[]>("/console/api/staff");
  myId ??= api.get<{ staffId: number }>("/console/api/me").then((me) => me.staffId);
  let work: CaseWorkData;
  let refs: [Provision[], Supplier[], StaffItem[], number];
  try {
    [work, ...refs] = await Promise.all([api.get<CaseWorkData>(`/console/api/complaints/${id}/casework`), provisions, suppliers, staff, myId]);
  } catch (error) {
    container.replaceChildren(h("p", { role: "alert" }, `Case work could not be loaded: ${message(error)}`));
    return;
  }
  // The case may have been re-rendered (a live event) while this one was loading.
  if (!container.isConnected) return;
  const [provisionList, supplierList, staffList, me] = refs;
  const change = async (action: string, body: unknown, done: string, status: HTMLElement, focusId: string) => {
    status.textContent = "Saving…";
    try {
      await api.post(`/console/api/complaints/${id}/${action}`, body);
      for (const control of status.closest("form")?.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("textarea, input[type=text]") ?? []) {
        drafts.delete(`${id}:${control.id}`);
      }
      focusAfterRender = focusId;
      announce(done);
      await reload();
    } catch (error) {
      status.textContent = message(error);
      status.classList.add("error");
      announce(message(error));
    }
  };
  const ctx: Context = { detail, work, change, coordinator, me };
  container.replaceChildren(
    h("h3", {}, "Case work"),
    h(
      "div",
      { class: "casework" },
      statusSection(ctx),
      assignmentSection(ctx, staffList),
      classificationSection(ctx, provisionList),
      supplierSection(ctx, supplierList),
      confidentialitySection(ctx),
      summarySection(ctx),
      notesSection(ctx),
      numberSection(ctx),
      coordinator ? restrictionSection(ctx, staffList) : null,
    ),
  );
  for (const control of container.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("textarea, input[type=text]")) {
    const key = `${id}:${control.id}`;
    const draft = drafts.get(key);
    if (draft !== undefined) control.value = draft;
    control.addEventListener("input", () => drafts.set(key, control.value));
  }
  const restore = focusAfterRender ?? (document.activeElement === document.body ? lastFocused : null);
  focusAfterRender = null;
  if (restore) document.getElementById(restore)?.focus();
}

interface Context {
  detail: CaseDetail;
  work: CaseWorkData;
  change: (action: string, body: unknown, done: string, status: HTMLElement, focusId: string) => Promise<void>;
  coordinator: boolean;
  me: number;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A fieldset with its legend, a form and a status line for what the server answered. */
function panel(idPrefix: string, legend: string, onSubmit: ((status: HTMLElement) => void) | null, ...children: (Node | null)[]): HTMLElement {
  const status = h("p", { class: "cw-status", role: "status", id: `${idPrefix}-status` });
  const fieldset = h("fieldset", { class: "cw-panel" }, h("legend", {}, legend), ...children, status);
  if (!onSubmit) return fieldset;
  const form = h("form", { id: `${idPrefix}-form`, novalidate: true }, fieldset);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit(status);
  });
  return form;
}

function field(id: string, text: string, control: HTMLElement): HTMLElement {
  control.id = id;
  return h("div", { class: "cw-field" }, h("label", { for: id }, text), control);
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : value === null || value === undefined ? null : String(value);
}

function statusSection(ctx: Context): HTMLElement {
  const current = ctx.detail.complaint.status;
  if (ctx.work.transitions.length === 0) {
    return panel("cw-lifecycle", "Status", null, h("p", {}, `${label(current)}: this case is closed.`));
  }
  const select = h(
    "select",
    {},
    ...ctx.work.transitions.map((t) => h("option", { value: t.to }, `${label(t.to)}${t.coordinatorsOnly ? " (reopen: coordinators)" : ""}`)),
  );
  const text = h("textarea", { rows: "3", dir: "auto", maxlength: "10000" });
  const textLabel = h("label", { for: "cw-status-text" }, "");
  const textField = h("div", { class: "cw-field" }, textLabel, text);
  text.id = "cw-status-text";
  const sync = () => {
    const chosen = ctx.work.transitions.find((t) => t.to === select.value);
    const needs = chosen ? requirementLabel[chosen.requires] : "";
    textField.hidden = needs === "";
    textLabel.textContent = needs;
    text.required = needs !== "";
  };
  select.addEventListener("change", sync);
  sync();
  return panel(
    "cw-lifecycle",
    "Status",
    (status) => void ctx.change("status", { status: select.value, text: text.value }, `Case is now ${label(select.value)}.`, status, "cw-next-status"),
    h("p", {}, "Now: ", h("strong", {}, label(current))),
    field("cw-next-status", "Move to", select),
    textField,
    h("button", { type: "submit" }, "Change status"),
  );
}

function assignmentSection(ctx: Context, staffList: StaffItem[]): HTMLElement {
  const assigned = ctx.detail.complaint.assigned_staff_id as number | null;
  const assignedName = str(ctx.detail.complaint.assigned_to);
  const children: (Node | null)[] = [h("p", {}, "Assigned to: ", h("strong", { dir: "auto" }, assignedName ?? "nobody"))];
  const id = "cw-assignment";
  if (ctx.coordinator) {
    const select = h(
      "select",
      {},
      h("option", { value: "" }, "Nobody"),
      ...staffList.map((s) => h("option", { value: String(s.id), selected: s.id === assigned, dir: "auto" }, `${s.displayName} (${s.role}${s.team ? ", " + s.team : ""})`)),
    );
    children.push(field("cw-assignee", "Assign to", select), h("button", { type: "submit" }, "Assign"));
    return panel(id, "Assignment", (status) => {
      const staffId = select.value === "" ? null : Number(select.value);
      void ctx.change("assignment", { staffId }, "Assignment saved.", status, "cw-assignee");
    }, ...children);
  }
  const mine = assigned === ctx.me;
  if (assigned === null || mine) {
    children.push(h("button", { type: "submit", id: "cw-take" }, mine ? "Leave unassigned" : "Take this case"));
  }
  return panel(id, "Assignment", (status) => {
    void ctx.change("assignment", { staffId: mine ? null : ctx.me }, mine ? "You left the case unassigned." : "You took the case.", status, "cw-take");
  }, ...children);
}

function classificationSection(ctx: Context, provisionList: Provision[]): HTMLElement {
  const attached = new Set(ctx.detail.provisions.map((p) => p.id));
  // Provisions kept from an earlier Code version stay listed (and checked) beside the current ones.
  const older = ctx.detail.provisions.filter((p) => !provisionList.some((c) => c.id === p.id));
  const all = [...provisionList.map((p) => ({ id: p.id, number: p.number, title: p.title, zero: p.zeroTolerance })),
    ...older.map((p) => ({ id: p.id, number: p.number, title: `${p.title} (earlier Code version)`, zero: p.zero_tolerance }))];
  const boxes = all.map((p) => {
    const box = h("input", { type: "checkbox", id: `cw-provision-${p.id}`, value: String(p.id), checked: attached.has(p.id) });
    return h("div", { class: "cw-check" }, box, h("label", { for: `cw-provision-${p.id}` }, `${p.number} ${p.title}`, p.zero ? h("strong", { class: "zero" }, " · zero tolerance") : null));
  });
  const provisionsForm = panel(
    "cw-provisions",
    `Code provisions${provisionList[0] ? ` (${provisionList[0].codeVersion})` : ""}`,
    (status) => {
      const provisionIds = [...document.querySelectorAll<HTMLInputElement>("#cw-provisions-form input[type=checkbox]:checked")].map((b) => Number(b.value));
      void ctx.change("provisions", { provisionIds }, "Classification saved.", status, "cw-provisions-save");
    },
    ...boxes,
    h("button", { type: "submit", id: "cw-provisions-save" }, "Save classification"),
  );
  const severity = ctx.detail.complaint.severity;
  const select = h("select", {}, ...["standard", "retaliation", "zero_tolerance"].map((s) => h("option", { value: s, selected: s === severity }, label(s))));
  const forced = ctx.detail.provisions.some((p) => p.zero_tolerance);
  const severityForm = panel(
    "cw-severity",
    "Severity",
    (status) => void ctx.change("severity", { severity: select.value }, "Severity saved.", status, "cw-severity-choice"),
    field("cw-severity-choice", "Severity", select),
    forced ? h("p", { class: "hint" }, "A zero-tolerance provision keeps this case at zero tolerance: the buyer is told at once.") : null,
    h("button", { type: "submit" }, "Save severity"),
  );
  return h("div", { class: "cw-group" }, provisionsForm, severityForm);
}

function supplierSection(ctx: Context, supplierList: Supplier[]): HTMLElement {
  const c = ctx.detail.complaint;
  const currentId = c.supplier_id as number | null;
  const outsideName = str(c.outside_supplier_name);
  const option = (s: Supplier) => h("option", { value: String(s.id), selected: s.id === currentId, dir: "auto" }, `${s.name}${s.country ? ` (${s.country})` : ""}`);
  const select = h(
    "select",
    {},
    h("option", { value: "" }, "Not known yet"),
    h("optgroup", { label: "Participating" }, ...supplierList.filter((s) => s.programStatus === "participating").map(option)),
    h("optgroup", { label: "Outside the Program (in the registry)" }, ...supplierList.filter((s) => s.programStatus !== "participating").map(option)),
    h("option", { value: "outside", selected: outsideName !== null }, "Outside the Program, not in the registry: give the name…"),
  );
  const name = h("input", { type: "text", maxlength: "200", dir: "auto", value: outsideName ?? "", autocomplete: "off" });
  const nameField = field("cw-outside-name", "Employer's name (outside the Program)", name);
  const sync = () => {
    nameField.hidden = select.value !== "outside";
  };
  select.addEventListener("change", sync);
  sync();
  const chosen = supplierList.find((s) => s.id === currentId);
  const buyers = chosen
    ? chosen.buyers.length > 0
      ? h("p", {}, "Signatory Buyers: ", ...chosen.buyers.flatMap((b, i) => [i > 0 ? ", " : "", h("span", { dir: "auto" }, b.name)]))
      : h("p", { class: "hint" }, "No Signatory Buyer buys from this supplier: an escalation cannot reach a buyer.")
    : outsideName !== null
      ? h("p", { class: "hint" }, "Outside the Program: no Signatory Buyer. The complaint is tracked to inform the Program's expansion.")
      : null;
  return panel(
    "cw-supplier",
    "Supplier",
    (status) => {
      const body = select.value === "outside"
        ? { supplierId: null, outsideSupplierName: name.value }
        : { supplierId: select.value === "" ? null : Number(select.value), outsideSupplierName: null };
      void ctx.change("supplier", body, "Supplier saved.", status, "cw-supplier-choice");
    },
    field("cw-supplier-choice", "Employer", select),
    nameField,
    buyers,
    h("button", { type: "submit" }, "Save supplier"),
  );
}

function confidentialitySection(ctx: Context): HTMLElement {
  const current = str(ctx.detail.complaint.confidentiality) ?? "confidential";
  const levels: [string, string][] = [
    ["confidential", "Confidential: the worker's identity never leaves the monitoring organization"],
    ["disclosure_consented", "Disclosure consented: the worker agreed, after the risk was explained"],
    ["anonymous", "Anonymous: the worker gave no identity"],
  ];
  const radios = levels.map(([value, text]) =>
    h("div", { class: "cw-check" }, h("input", { type: "radio", name: "cw-level", id: `cw-level-${value}`, value, checked: value === current }), h("label", { for: `cw-level-${value}` }, text)),
  );
  const levelForm = panel(
    "cw-confidentiality",
    "Confidentiality",
    (status) => {
      const level = document.querySelector<HTMLInputElement>("input[name=cw-level]:checked")?.value;
      void ctx.change("confidentiality", { level }, "Confidentiality saved.", status, `cw-level-${level ?? "confidential"}`);
    },
    ...radios,
    h("button", { type: "submit" }, "Save confidentiality"),
  );
  const decision = h("select", {}, ...Object.entries(decisionLabel).map(([value, text]) => h("option", { value }, text)));
  const how = h("select", {}, h("option", { value: "phone" }, "by phone"), h("option", { value: "text" }, "by text message"), h("option", { value: "in_person" }, "in person"));
  const list = ctx.work.decisions.length === 0
    ? h("p", { class: "hint" }, "No decision recorded yet: before anything is shared, explain the risk and record what the worker decides.")
    : h("ol", { class: "cw-decisions" }, ...ctx.work.decisions.map((d) =>
        h("li", {}, `The worker ${decisionLabel[d.decision] ?? label(d.decision)}, ${label(d.how)} · recorded by `, h("span", { dir: "auto" }, d.recordedByName), ` · ${when(d.recordedAt)}`)));
  const decisionForm = panel(
    "cw-decision",
    "The worker's decisions about disclosure",
    (status) => void ctx.change("disclosure-decisions", { decision: decision.value, how: how.value }, "Decision recorded.", status, "cw-decision-choice"),
    list,
    field("cw-decision-choice", "The worker", decision),
    field("cw-decision-how", "Given", how),
    h("button", { type: "submit" }, "Record decision"),
  );
  return h("div", { class: "cw-group" }, levelForm, decisionForm);
}

function summarySection(ctx: Context): HTMLElement {
  const text = h("textarea", { rows: "4", dir: "auto", maxlength: "4000", "aria-describedby": "cw-summary-notice" });
  text.value = str(ctx.detail.complaint.shareable_summary) ?? "";
  return panel(
    "cw-summary",
    "Shareable summary",
    (status) => void ctx.change("summary", { text: text.value }, "Shareable summary saved.", status, "cw-summary-text"),
    h(
      "p",
      { class: "notice", id: "cw-summary-notice" },
      h("strong", {}, "This is the only text that may ever reach a supplier or a buyer. "),
      "Never write the worker's name, number, or anything that would tell the supplier who complained.",
    ),
    field("cw-summary-text", `Summary (version ${ctx.work.shareableSummaryVersion})`, text),
    h("button", { type: "submit" }, "Save summary"),
  );
}

function notesSection(ctx: Context): HTMLElement {
  const text = h("textarea", { rows: "3", dir: "auto", maxlength: "10000", required: true });
  const list = h(
    "ol",
    { class: "cw-notes" },
    ...ctx.work.notes.map((n) =>
      h(
        "li",
        { "data-note": String(n.id) },
        h("small", {}, `${noteKindLabel[n.kind] ?? label(n.kind)} · `, h("span", { dir: "auto" }, n.staffName), ` · ${when(n.createdAt)}`),
        h("p", { dir: "auto" }, n.body),
      ),
    ),
  );
  return panel(
    "cw-notes",
    "Private notes",
    (status) => void ctx.change("notes", { body: text.value }, "Note added.", status, "cw-note-text"),
    h("p", { class: "hint" }, "Private: notes never leave the monitoring organization and are never shared with a supplier or buyer."),
    ctx.work.notes.length > 0 ? list : null,
    field("cw-note-text", "New note", text),
    h("button", { type: "submit" }, "Add note"),
  );
}

function numberSection(ctx: Context): HTMLElement {
  const id = ctx.detail.complaint.id;
  const area = h("div", {});
  const status = h("p", { class: "cw-status", role: "status" });
  const showAsk = () => {
    const ask = h("button", { type: "button", id: "cw-reveal" }, "Reveal the caller's number…");
    ask.addEventListener("click", showConfirm);
    area.replaceChildren(ask);
  };
  const showRevealed = (phone: string) => {
    const hide = h("button", { type: "button", id: "cw-hide-number" }, "Hide the number");
    hide.addEventListener("click", () => {
      revealed = null;
      showAsk();
      document.getElementById("cw-reveal")?.focus();
    });
    area.replaceChildren(h("p", { id: "cw-revealed", class: "revealed" }, "Caller's number: ", h("a", { href: `tel:${phone}` }, phone), " "), hide);
  };
  function showConfirm(): void {
    const confirm = h("button", { type: "button", id: "cw-reveal-confirm" }, "Reveal and record it");
    const cancel = h("button", { type: "button" }, "Cancel");
    confirm.addEventListener("click", async () => {
      try {
        const answer = await api.post<{ phone: string }>(`/console/api/complaints/${id}/reveal-number`);
        revealed = { complaintId: id, phone: answer.phone };
        showRevealed(answer.phone);
        status.textContent = "The number is shown; revealing it is on the case timeline.";
        document.getElementById("cw-hide-number")?.focus();
      } catch (error) {
        status.textContent = message(error);
        showAsk();
      }
    });
    cancel.addEventListener("click", () => {
      showAsk();
      document.getElementById("cw-reveal")?.focus();
    });
    area.replaceChildren(h("p", {}, "Revealing the number is recorded on the case timeline, with your name and the time."), confirm, " ", cancel);
    confirm.focus();
  }
  if (revealed && revealed.complaintId === id) showRevealed(revealed.phone);
  else showAsk();
  return h("fieldset", { class: "cw-panel" }, h("legend", {}, "Caller's number"), area, status);
}

function restrictionSection(ctx: Context, staffList: StaffItem[]): HTMLElement {
  const current = str(ctx.detail.complaint.restricted_team);
  const teams = [...new Set(staffList.map((s) => s.team).filter((t): t is string => t !== null))].sort();
  const select = h(
    "select",
    {},
    h("option", { value: "" }, "Not restricted: every investigator"),
    ...teams.map((t) => h("option", { value: t, selected: t === current, dir: "auto" }, `Team ${t} only`)),
  );
  return panel(
    "cw-restriction",
    "Restriction (coordinators)",
    (status) => void ctx.change("restriction", { team: select.value || null }, "Restriction saved.", status, "cw-restricted-team"),
    h("p", { class: "hint" }, "A restricted case (for example one about a colleague) opens only for that team's investigators, coordinators and admins."),
    field("cw-restricted-team", "Who can open this case", select),
    h("button", { type: "submit" }, "Save restriction"),
  );
}
