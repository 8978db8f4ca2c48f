// The live connection to /hubs/console. Events carry an id; after a reconnect the console asks for
// the ones it missed (CatchUp), so nothing shown is stale and nothing is shown twice.
import { HubConnection, HubConnectionBuilder, HubConnectionState, LogLevel } from "@microsoft/signalr";

export interface ConsoleEvent {
  id: number;
  kind: string;
  complaintId: number | null;
  payload: Record<string, unknown>;
  at: string;
}

export type EventHandler = (event: ConsoleEvent) => void;

const methods: Record<string, string> = {
  CallOffered: "call.offered",
  CallTaken: "call.taken",
  CallAnswered: "call.answered",
  CallMissed: "call.missed",
  MessageReceived: "message.received",
  MessageStatus: "message.status",
  ComplaintChanged: "complaint.changed",
  ClockWarning: "clock.warning",
  PresenceChanged: "presence",
  DashboardChanged: "dashboard.changed",
  Other: "other",
};

export class LiveEvents {
  readonly connection: HubConnection;
  private lastId = 0;
  private readonly seen = new Set<number>();
  private readonly handlers = new Map<string, EventHandler[]>();

  constructor(private readonly onState: (state: string) => void) {
    this.connection = new HubConnectionBuilder()
      .withUrl("/hubs/console")
      .withAutomaticReconnect([0, 1000, 2000, 5000, 10000, 15000, 30000])
      .configureLogging(LogLevel.Warning)
      .build();
    for (const [method, kind] of Object.entries(methods)) {
      this.connection.on(method, (event: ConsoleEvent) => this.deliver(kind === "other" ? event.kind : kind, event));
    }
    this.connection.onreconnecting(() => this.onState("reconnecting"));
    this.connection.onreconnected(async () => {
      this.onState("connected");
      await this.catchUp();
    });
    this.connection.onclose(() => this.onState("disconnected"));
  }

  on(kind: string, handler: EventHandler): void {
    this.handlers.set(kind, [...(this.handlers.get(kind) ?? []), handler]);
  }

  async start(): Promise<void> {
    await this.connection.start();
    this.lastId = await this.connection.invoke<number>("LatestEventId");
    this.onState("connected");
  }

  get connected(): boolean {
    return this.connection.state === HubConnectionState.Connected;
  }

  invoke<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.connection.invoke<T>(method, ...args);
  }

  private async catchUp(): Promise<void> {
    // A little before the last id: an event committed late may carry a smaller id than one already seen.
    const missed = await this.connection.invoke<ConsoleEvent[]>("CatchUp", Math.max(0, this.lastId - 50));
    for (const event of missed) {
      this.deliver(event.kind, event);
    }
  }

  private deliver(kind: string, event: ConsoleEvent): void {
    if (this.seen.has(event.id)) {
      return;
    }
    this.seen.add(event.id);
    this.lastId = Math.max(this.lastId, event.id);
    // Other parts of the page (and the browser tests) can listen for every live event.
    document.dispatchEvent(new CustomEvent("wsr:event", { detail: event }));
    for (const handler of [...(this.handlers.get(kind) ?? []), ...(this.handlers.get("*") ?? [])]) {
      handler(event);
    }
  }
}
