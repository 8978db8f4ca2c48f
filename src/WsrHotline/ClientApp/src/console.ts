// The investigators' console: presence and languages, ringing calls, the cases and their conversations.
import { api, setCsrfToken } from "./api";
import { ActiveCallPanel } from "./activecall";
import { CallPanel, setLanguageNames } from "./calls";
import { Cases } from "./cases";
import { mountCallbacks, mountVoicemails } from "./callbacks";
import { mountCaseWork } from "./casework";
import { announce, byId, h } from "./dom";
import { clockName, dueAt, timeLeft } from "./clocks";
import { type ConsoleEvent, LiveEvents } from "./live";

interface SignedInStaff {
  staffId: number;
  displayName: string;
  role: string;
  team: string | null;
  languages: string[];
  status: string;
  answerMode: string;
  hotlineLanguages: { code: string; name: string; nativeName: string }[];
  voiceMode: string;
  csrfToken: string;
}

interface Colleague {
  staffId: number;
  displayName: string;
  role: string;
  status: string;
  connected: boolean;
  languages: string[];
  activity: string;
  activityCallId: number | null;
}

async function main(): Promise<void> {
  const me = await api.get<SignedInStaff>("/console/api/me");
  setCsrfToken(me.csrfToken);
  setLanguageNames(Object.fromEntries(me.hotlineLanguages.map((l) => [l.code, l.nativeName])));
  byId("me").textContent = `${me.displayName} (${me.role}${me.team ? ", " + me.team : ""})`;
  byId<HTMLInputElement>("signout-token").value = me.csrfToken;

  const live = new LiveEvents((state) => {
    const line = byId("connection");
    line.textContent = state === "connected" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Offline";
    line.dataset.state = state;
  });
  await live.start();

  presenceControls(me, live);
  const calls = new CallPanel(live, me.staffId);
  await calls.prepareVoice().catch(() => undefined);
  const activeCall = new ActiveCallPanel(live, me.staffId);
  await activeCall.refresh().catch(() => undefined);

  const cases = new Cases(live);
  mountCaseWork(cases, me.role);
  mountVoicemails(cases);
  mountCallbacks(live, calls);
  await cases.loadList();
  cases.route();

  const coordinator = me.role === "coordinator" || me.role === "admin";
  const colleagues = async () => {
    const list = await live.invoke<Colleague[]>("Colleagues");
    byId("colleagues").replaceChildren(
      ...list.map((c) =>
        h(
          "li",
          { "data-staff": String(c.staffId) },
          `${c.displayName} · ${c.connected ? activityText(c) : "offline"} · ${c.languages.join(", ")}`,
          coordinator && c.activity === "on_call" && c.activityCallId && c.staffId !== me.staffId ? monitorButtons(c.activityCallId, c.displayName) : null,
        ),
      ),
    );
  };
  live.on("presence", () => void colleagues());
  await colleagues();
  // A clock's warning or breach names the case by its number and says what is due when (local time).
  const clockNotice = (e: ConsoleEvent, text: (what: string, due: string) => string) => {
    const p = e.payload as { case_number?: string; kind?: string; due_at?: string };
    const due = p.due_at ?? e.at;
    const caseNumber = p.case_number ?? String(e.complaintId);
    const what = clockName(p.kind ?? "");
    byId("notices").prepend(
      h("li", { role: "status", "data-kind": e.kind },
        h("a", { href: `#case/${String(e.complaintId)}` }, `Case ${caseNumber}`), `: ${text(what, `${dueAt(due)} (${timeLeft(due)})`)}`),
    );
  };
  live.on("clock.warning", (e) => clockNotice(e, (what, due) => `${what} due ${due}`));
  live.on("clock.breached", (e) => clockNotice(e, (what, due) => `${what} clock breached, it was due ${due}`));
  document.body.dataset.ready = "true";
}

/** A coordinator listens to a call (muted), coaches its investigator (only they hear), or joins it (barge). */
function monitorButtons(callId: number, name: string): HTMLElement {
  const group = h("span", { class: "monitor", role: "group", "aria-label": `Monitor ${name}'s call` });
  for (const [mode, label] of [["listen", "Listen"], ["coach", "Coach"], ["barge", "Barge"]] as const) {
    const button = h("button", { type: "button", "data-mode": mode }, label);
    button.addEventListener("click", () => {
      api.post(`/console/api/calls/${callId}/monitor`, { mode }).then(
        () => announce(mode === "listen" ? `Listening to ${name}'s call.` : mode === "coach" ? `Coaching ${name}: only they hear you.` : `You are in ${name}'s call.`),
        (error: unknown) => announce(error instanceof Error ? error.message : "That did not work."),
      );
    });
    group.append(" ", button);
  }
  return group;
}

function activityText(c: Colleague): string {
  return c.activity === "on_call" ? "on a call" : c.activity === "wrap_up" ? "wrap-up" : c.status;
}

function presenceControls(me: SignedInStaff, live: LiveEvents): void {
  const status = byId<HTMLSelectElement>("presence");
  const mode = byId<HTMLSelectElement>("answer-mode");
  status.value = me.status;
  mode.value = me.answerMode;
  const save = () => void live.invoke("SetPresence", status.value, mode.value);
  status.addEventListener("change", save);
  mode.addEventListener("change", save);

  const fieldset = byId("languages");
  for (const language of me.hotlineLanguages) {
    const id = `lang-${language.code}`;
    const box = h("input", { type: "checkbox", id, value: language.code, checked: me.languages.includes(language.code) });
    box.addEventListener("change", () => {
      const chosen = [...fieldset.querySelectorAll<HTMLInputElement>("input:checked")].map((b) => b.value);
      void live.invoke("SetLanguages", chosen);
    });
    fieldset.append(h("label", { for: id, lang: language.code }, box, ` ${language.nativeName}`));
  }
}

main().catch((error: unknown) => {
  byId("status-line").textContent = `The console could not start: ${error instanceof Error ? error.message : String(error)}`;
});
