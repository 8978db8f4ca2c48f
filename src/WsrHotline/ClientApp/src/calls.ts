// Calls in the console: the ringing banner, Accept (first wins), and the audio leg in the browser
// (Twilio's Voice SDK) or, in the local run, the simulator standing in for it.
import { api } from "./api";
import { announce, byId, h } from "./dom";
import type { ConsoleEvent, LiveEvents } from "./live";

interface AcceptResult {
  accepted: boolean;
  reason: string;
}

interface VoiceToken {
  mode: "twilio" | "simulator" | "phone";
  identity: string;
  token: string | null;
}

export class CallPanel {
  private readonly ringing = new Map<number, HTMLElement>();
  private audio: AudioContext | null = null;
  private ringTimer: number | undefined;
  private voice: VoiceToken | null = null;
  private device: { destroy(): void } | null = null;
  private expectingCall = false;

  constructor(private readonly live: LiveEvents, private readonly staffId: number) {
    live.on("call.offered", (e) => this.offered(e));
    live.on("call.taken", (e) => {
      // Our own accept is shown by accept() itself (the event may arrive before the hub's answer).
      if (Number(e.payload.staffId) !== this.staffId) this.closed(e, `Taken by ${String(e.payload.staffName ?? "a colleague")}.`);
    });
    live.on("call.missed", (e) => this.closed(e, "Nobody accepted in time: the on-call phones are ringing."));
    // The worker's call is over (they hung up while it rang, or it ended): no console keeps its banner.
    live.on("call.ended", (e) => {
      this.closed(e, "The caller hung up.");
      document.querySelector(`.call-banner.won[data-call-id="${Number(e.payload.callId)}"]`)?.remove();
    });
    live.on("call.answered", (e) => {
      if (Number(e.payload.staffId) === this.staffId) announce("Call connected.");
    });
  }

  async prepareVoice(): Promise<void> {
    this.voice = await api.get<VoiceToken>("/console/api/voice-token");
    if (this.voice.mode === "twilio" && this.voice.token) {
      const { Device } = await import("@twilio/voice-sdk");
      const device = new Device(this.voice.token, { closeProtection: true });
      device.on("incoming", (call: { accept(): void; reject(): void }) => {
        // Only the call this investigator just accepted in the console comes here.
        if (this.expectingCall) {
          this.expectingCall = false;
          call.accept();
          announce("Call connected in the browser.");
        } else {
          call.reject();
        }
      });
      await device.register();
      this.device = device;
    } else if (this.voice.mode === "simulator") {
      // Local run: the simulator plays the browser's part. The "client:staff-N" line it rings answers
      // by itself, as the Voice SDK does here for a call the investigator accepted.
      await fetch(`/simulator/api/phones/${encodeURIComponent("client:" + this.voice.identity)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ behavior: "answer", ringSeconds: 1 }),
      });
    }
  }

  /** The next call to this browser is one the investigator asked for (a callback): the Voice SDK accepts it. */
  expectCall(expecting = true): void {
    this.expectingCall = expecting;
  }

  private offered(e: ConsoleEvent): void {
    const callId = Number(e.payload.callId);
    if (this.ringing.has(callId)) return;
    const language = String(e.payload.language ?? "");
    const caseNumber = e.payload.caseNumber ? ` · case ${String(e.payload.caseNumber)}` : "";
    const accept = h("button", { type: "button", class: "accept" }, "Accept");
    const transfer = e.payload.transfer === true;
    // A transfer to this language's queue rings like a new call; Accept takes it as a transfer.
    const queue = transfer && e.payload.queue === true;
    const from = queue && e.payload.fromLanguage ? ` · transferred from the ${languageName(String(e.payload.fromLanguage))} line` : "";
    const banner = h(
      "div",
      { class: "call-banner", role: "alert", "data-call-id": String(callId), "data-transfer": transfer ? "true" : undefined, lang: "en" },
      h("strong", {}, transfer && !queue ? `A colleague transfers a call in ${languageName(language)} to you` : `Incoming call in ${languageName(language)}`),
      h("span", {}, caseNumber + from),
      accept,
    );
    accept.addEventListener("click", () => void this.accept(callId, banner, accept));
    byId("calls").append(banner);
    this.ringing.set(callId, banner);
    this.ring();
    accept.focus();
  }

  private async accept(callId: number, banner: HTMLElement, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this.expectingCall = true;
    const result = await this.live.invoke<AcceptResult>(banner.dataset.transfer ? "AcceptTransfer" : "AcceptCall", callId);
    banner.classList.add(result.accepted ? "won" : "lost");
    button.remove();
    banner.querySelector("span")!.textContent = " " + result.reason;
    this.ringing.delete(callId);
    this.stopRinging();
    if (!result.accepted) {
      this.expectingCall = false;
      setTimeout(() => banner.remove(), 8000);
      return;
    }
    announce(result.reason);
  }

  private closed(e: ConsoleEvent, text: string): void {
    const callId = Number(e.payload.callId);
    const banner = this.ringing.get(callId) ?? document.querySelector<HTMLElement>(`.call-banner[data-call-id="${callId}"]`);
    if (!banner) return;
    this.ringing.delete(callId);
    if (!banner.classList.contains("won")) {
      banner.classList.add("lost");
      banner.querySelector("button")?.remove();
      banner.querySelector("span")!.textContent = " " + text;
      setTimeout(() => banner.remove(), 8000);
    }
    if (this.ringing.size === 0) this.stopRinging();
  }

  private ring(): void {
    if (this.ringTimer !== undefined) return;
    const beep = () => {
      try {
        this.audio ??= new AudioContext();
        const oscillator = this.audio.createOscillator();
        const gain = this.audio.createGain();
        oscillator.frequency.value = 880;
        gain.gain.value = 0.15;
        oscillator.connect(gain).connect(this.audio.destination);
        oscillator.start();
        oscillator.stop(this.audio.currentTime + 0.4);
      } catch {
        // no audio device: the banner still shows
      }
    };
    beep();
    this.ringTimer = window.setInterval(beep, 1500);
  }

  private stopRinging(): void {
    if (this.ringing.size > 0) return;
    window.clearInterval(this.ringTimer);
    this.ringTimer = undefined;
  }

  dispose(): void {
    this.device?.destroy();
  }
}

let names: Record<string, string> = {};

export function setLanguageNames(map: Record<string, string>): void {
  names = map;
}

export function languageName(code: string): string {
  return names[code] ?? code;
}

/** The hotline's language codes, in the order the hotline offers them. */
export function hotlineLanguages(): string[] {
  return Object.keys(names);
}
