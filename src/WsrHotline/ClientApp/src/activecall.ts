// The investigator's call once it is up: the active-call panel (the worker's language, the case number,
// a timer, who else is in the call) with its controls (hold, mute, hang up), then the wrap-up form,
// then available again. The controls are the server's (/console/api/calls/…), which act on the call's
// Twilio conference: they work the same whether the investigator talks in the browser or on a phone.
import { api, ApiError } from "./api";
import { hotlineLanguages, languageName } from "./calls";
import { announce, byId, h, utc } from "./dom";
import type { ConsoleEvent, LiveEvents } from "./live";

interface Participant {
  role: string;
  staffId: number | null;
  staffName?: string | null;
  muted: boolean;
  held: boolean;
  coaching: boolean;
}

interface Disposition {
  code: string;
  label: string;
}

interface ActiveCall {
  callId: number;
  activity: "on_call" | "wrap_up";
  languageCode: string | null;
  caseNumber: string | null;
  complaintId: number | null;
  answeredAt: string | null;
  wrapUpUntil: string | null;
  participants: Participant[];
  dispositions: Disposition[];
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export class ActiveCallPanel {
  private call: ActiveCall | null = null;
  private timer: number | undefined;
  private held = false;
  private muted = false;

  constructor(private readonly live: LiveEvents, private readonly staffId: number) {
    live.on("call.answered", (e) => {
      if (Number(e.payload.staffId) === this.staffId) void this.refresh();
    });
    live.on("call.participants", (e) => this.participants(e));
    live.on("call.wrap_up", (e) => {
      if (Number(e.payload.staffId) === this.staffId) void this.refresh();
    });
    live.on("presence", (e) => {
      if (Number(e.payload.staffId) !== this.staffId) return;
      if (e.payload.activity === "idle" && this.call) this.available();
      else if (e.payload.activity === "on_call" && !this.call) void this.refresh();
    });
  }

  /** What the server says this investigator is doing now (also after a reload). */
  async refresh(): Promise<void> {
    const call = await api.get<ActiveCall | undefined>("/console/api/calls/active");
    if (!call) {
      if (this.call) this.available();
      return;
    }
    this.call = call;
    if (call.activity === "on_call") this.showCall(call);
    else this.showWrapUp(call);
  }

  private section(): HTMLElement {
    const section = byId("active-call");
    section.hidden = false;
    return section;
  }

  private showCall(call: ActiveCall): void {
    const section = this.section();
    section.dataset.state = "on_call";
    this.held = call.participants.some((p) => p.role === "worker" && p.held);
    this.muted = call.participants.some((p) => p.role === "investigator" && p.staffId === this.staffId && p.muted);
    const elapsed = h("span", { class: "call-timer", "aria-label": "Call time" }, "00:00");
    const hold = h("button", { type: "button", class: "hold", "aria-pressed": String(this.held) }, this.held ? "Resume" : "Hold");
    const mute = h("button", { type: "button", class: "mute", "aria-pressed": String(this.muted) }, this.muted ? "Unmute" : "Mute");
    const hangup = h("button", { type: "button", class: "hangup" }, "Hang up");
    const transferTo = h("select", { id: "transfer-to", "aria-label": "Transfer to" }, h("option", { value: "" }, "Transfer to…"));
    const transfer = h("button", { type: "button", class: "transfer" }, "Transfer");
    const interpreterLine = h("select", { id: "interpreter-line", "aria-label": "Interpreter" }, h("option", { value: "" }, "Interpreter…"));
    const interpreter = h("button", { type: "button", class: "interpreter" }, "Add interpreter");
    transfer.addEventListener("click", () => void this.transfer(transferTo.value, transfer));
    interpreter.addEventListener("click", () => void this.send("interpreter", { language: interpreterLine.value }, interpreter, "Calling the interpreter line."));
    void this.fillTransferAndInterpreters(call, transferTo, interpreterLine);
    hold.addEventListener("click", () => void this.control("hold", !this.held, hold));
    mute.addEventListener("click", () => void this.control("mute", !this.muted, mute));
    hangup.addEventListener("click", () => void this.hangUp(hangup));
    section.replaceChildren(
      h("h2", {}, "On a call"),
      h(
        "p",
        { class: "call-facts" },
        h("span", { class: "call-language" }, `Worker's language: ${languageName(call.languageCode ?? "")}`),
        " · ",
        h("span", { class: "call-case" }, call.caseNumber ? `Case ${call.caseNumber}` : "No case yet"),
        " · ",
        elapsed,
      ),
      h("p", { class: "call-hold-state", role: "status" }, this.held ? "The worker is on hold and hears the hold message." : ""),
      h("div", { class: "call-controls", role: "group", "aria-label": "Call controls" }, hold, mute, hangup),
      h("div", { class: "call-controls", role: "group", "aria-label": "Bring someone in" }, transferTo, transfer, interpreterLine, interpreter),
      h("p", { class: "call-others", role: "status" }, this.othersText(call.participants)),
    );
    const started = call.answeredAt ? utc(call.answeredAt).getTime() : Date.now();
    window.clearInterval(this.timer);
    const tick = () => (elapsed.textContent = clock((Date.now() - started) / 1000));
    tick();
    this.timer = window.setInterval(tick, 1000);
  }

  private othersText(participants: Participant[]): string {
    const others = participants.filter((p) => p.role !== "worker" && p.staffId !== this.staffId);
    return others
      .map((p) =>
        p.role === "coordinator"
          ? `${p.staffName ?? "A coordinator"} is ${p.coaching ? "coaching you" : p.muted ? "listening" : "in the call"}`
          : p.role === "interpreter"
            ? "An interpreter is in the call"
            : `${p.staffName ?? "A colleague"} is in the call`,
      )
      .join(". ");
  }

  private participants(e: ConsoleEvent): void {
    if (!this.call || Number(e.payload.callId) !== this.call.callId) return;
    const list = (e.payload.participants as Participant[] | undefined) ?? [];
    this.call.participants = list;
    this.held = list.some((p) => p.role === "worker" && p.held);
    this.muted = list.some((p) => p.role === "investigator" && p.staffId === this.staffId && p.muted);
    const section = byId("active-call");
    const hold = section.querySelector<HTMLButtonElement>("button.hold");
    const mute = section.querySelector<HTMLButtonElement>("button.mute");
    if (hold) {
      hold.textContent = this.held ? "Resume" : "Hold";
      hold.setAttribute("aria-pressed", String(this.held));
    }
    if (mute) {
      mute.textContent = this.muted ? "Unmute" : "Mute";
      mute.setAttribute("aria-pressed", String(this.muted));
    }
    const state = section.querySelector(".call-hold-state");
    if (state) state.textContent = this.held ? "The worker is on hold and hears the hold message." : "";
    const others = section.querySelector(".call-others");
    if (others) others.textContent = this.othersText(list.map((p) => ({ ...p, staffName: this.nameOf(p) })));
  }

  private nameOf(p: Participant): string | null {
    const known = document.querySelector<HTMLElement>(`#colleagues li[data-staff="${p.staffId ?? ""}"]`);
    return known?.textContent?.split(" · ")[0] ?? null;
  }

  private async control(kind: "hold" | "mute", on: boolean, button: HTMLButtonElement): Promise<void> {
    if (!this.call) return;
    button.disabled = true;
    try {
      await api.post(`/console/api/calls/${this.call.callId}/${kind}`, { on });
      announce(kind === "hold" ? (on ? "The worker is on hold." : "The worker is back.") : on ? "You are muted." : "You are unmuted.");
    } catch (error) {
      announce(error instanceof ApiError ? error.message : "That did not work; try again.");
    } finally {
      button.disabled = false;
    }
  }

  // "Transfer to": the colleagues who look free for the worker's language (the server decides), then the
  // queue of each other hotline language (the call rings everyone who may take it in that language).
  // Values are "staff:ID" or "lang:CODE".
  private async fillTransferAndInterpreters(call: ActiveCall, transferTo: HTMLSelectElement, interpreters: HTMLSelectElement): Promise<void> {
    const colleagues = await this.live.invoke<{ staffId: number; displayName: string; status: string; connected: boolean; languages: string[]; activity: string }[]>("Colleagues");
    const free = h("optgroup", { label: "Colleagues" });
    for (const c of colleagues) {
      if (c.staffId !== this.staffId && c.connected && c.status === "available" && c.activity === "idle" && c.languages.includes(call.languageCode ?? "")) {
        free.append(h("option", { value: `staff:${c.staffId}` }, c.displayName));
      }
    }
    const queues = h("optgroup", { label: "Another language's queue" });
    for (const code of hotlineLanguages()) {
      if (code !== call.languageCode) queues.append(h("option", { value: `lang:${code}` }, `${languageName(code)} queue`));
    }
    for (const group of [free, queues]) if (group.childElementCount > 0) transferTo.append(group);
    for (const line of await api.get<Disposition[]>("/console/api/interpreters")) {
      interpreters.append(h("option", { value: line.code }, line.label));
    }
  }

  private transfer(choice: string, button: HTMLButtonElement): Promise<void> {
    if (choice.startsWith("lang:")) {
      const language = choice.slice("lang:".length);
      return this.send("transfer", { language }, button, `Transfer offered to the ${languageName(language)} queue: the call is yours until a colleague is in.`);
    }
    if (choice.startsWith("staff:")) {
      return this.send("transfer", { staffId: Number(choice.slice("staff:".length)) }, button, "Transfer offered: the call is yours until your colleague is in.");
    }
    announce("Choose a colleague or a language's queue to transfer to.");
    return Promise.resolve();
  }

  private async send(kind: string, body: unknown, button: HTMLButtonElement, done: string): Promise<void> {
    if (!this.call) return;
    button.disabled = true;
    try {
      await api.post(`/console/api/calls/${this.call.callId}/${kind}`, body);
      announce(done);
    } catch (error) {
      announce(error instanceof ApiError ? error.message : "That did not work; try again.");
    } finally {
      button.disabled = false;
    }
  }

  private async hangUp(button: HTMLButtonElement): Promise<void> {
    if (!this.call) return;
    button.disabled = true;
    try {
      await api.post(`/console/api/calls/${this.call.callId}/hangup`);
      announce("Call ended. The worker hears their case number and PIN.");
    } catch (error) {
      button.disabled = false;
      announce(error instanceof ApiError ? error.message : "That did not work; try again.");
    }
  }

  private showWrapUp(call: ActiveCall): void {
    window.clearInterval(this.timer);
    const section = this.section();
    section.dataset.state = "wrap_up";
    const select = h(
      "select",
      { id: "wrap-up-disposition", required: true },
      h("option", { value: "" }, "Choose…"),
      ...call.dispositions.map((d) => h("option", { value: d.code }, d.label)),
    );
    const note = h("textarea", { id: "wrap-up-note", rows: "3", maxlength: "4000" });
    const until = call.wrapUpUntil ? utc(call.wrapUpUntil).getTime() : Date.now();
    const left = h("span", { class: "wrap-up-left" }, "");
    const form = h(
      "form",
      { class: "wrap-up", "aria-label": "Wrap-up" },
      h("label", { for: "wrap-up-disposition" }, "Disposition"),
      select,
      h("label", { for: "wrap-up-note" }, "Note"),
      note,
      h("button", { type: "submit" }, "Finish wrap-up"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.submitWrapUp(call.callId, select.value, note.value);
    });
    section.replaceChildren(
      h("h2", {}, "Wrap-up"),
      h("p", {}, `${call.caseNumber ? `Case ${call.caseNumber}. ` : ""}Calls come to you again when you finish, or by themselves in `, left, "."),
      form,
    );
    const tick = () => (left.textContent = clock((until - Date.now()) / 1000));
    tick();
    this.timer = window.setInterval(tick, 1000);
    select.focus();
  }

  private async submitWrapUp(callId: number, disposition: string, note: string): Promise<void> {
    try {
      await api.post(`/console/api/calls/${callId}/wrap-up`, { disposition, note });
      this.available();
    } catch (error) {
      announce(error instanceof ApiError ? error.message : "The wrap-up was not saved; try again.");
    }
  }

  private available(): void {
    window.clearInterval(this.timer);
    this.call = null;
    const section = byId("active-call");
    section.dataset.state = "available";
    section.replaceChildren(h("p", { role: "status" }, "Available: calls come to you again."));
    announce("Available: calls come to you again.");
  }
}
