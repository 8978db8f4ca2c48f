namespace WsrHotline.Simulator;

/// <summary>What a simulated call is doing; the states where it waits for a person are marked.</summary>
public enum CallState
{
    /// <summary>A phone is ringing (a <see cref="PhoneMode.Manual"/> phone waits for a person to answer).</summary>
    Ringing,

    /// <summary>Fetching or playing TwiML.</summary>
    Running,

    /// <summary>A &lt;Gather&gt; waits for keys (a person: <see cref="SimulatedCall.PressAsync"/>).</summary>
    WaitingForDigits,

    /// <summary>A &lt;Record&gt; waits for the caller to speak (<see cref="SimulatedCall.RecordAsync"/>).</summary>
    Recording,

    /// <summary>Waiting in a queue, hearing its waitUrl.</summary>
    InQueue,

    /// <summary>A &lt;Dial&gt; rings other phones.</summary>
    Dialing,

    /// <summary>Talking with another leg.</summary>
    Bridged,

    /// <summary>In a conference room (hearing its wait music, the hold music, or the others).</summary>
    InConference,

    Completed,
}

/// <summary>
/// One call leg: a worker's call to the hotline, an outbound call the app placed through the REST
/// stand-in, or a leg a &lt;Dial&gt; opened. Its methods act as the person on this leg would; each
/// returns once the call waits for that person again, is queued, bridged, or over.
/// </summary>
public sealed class SimulatedCall
{
    private readonly VoiceSimulator simulator;
    private readonly List<CallEvent> transcript = [];
    private volatile CallState state;

    internal SimulatedCall(VoiceSimulator simulator, string sid, string from, string to, string direction, SimulatedPhone? phone, string? parentCallSid)
    {
        this.simulator = simulator;
        Sid = sid;
        From = from;
        To = to;
        Direction = direction;
        Phone = phone;
        ParentCallSid = parentCallSid;
    }

    /// <summary>"CA" and 32 hex digits, like Twilio's.</summary>
    public string Sid { get; }

    public string From { get; }

    public string To { get; }

    /// <summary>Twilio's Direction: inbound, outbound-api or outbound-dial.</summary>
    public string Direction { get; }

    /// <summary>The call whose &lt;Dial&gt; opened this leg.</summary>
    public string? ParentCallSid { get; }

    /// <summary>The simulated phone this leg rings, for outbound legs.</summary>
    public SimulatedPhone? Phone { get; }

    public CallState State
    {
        get => state;
        internal set => state = value;
    }

    /// <summary>Twilio's CallStatus: queued, ringing, in-progress, completed, busy, no-answer, canceled, failed.</summary>
    public string Status { get; internal set; } = "queued";

    /// <summary>Whether this leg waits for a person: digits or a recording, or a manual phone ringing.</summary>
    public bool NeedsHuman => state switch
    {
        CallState.WaitingForDigits => AwaitingInput,
        CallState.Recording => AwaitingInput,
        CallState.Ringing => AwaitingInput && Phone?.Behavior.Mode == PhoneMode.Manual,
        _ => false,
    };

    /// <summary>The queue this call waits in, if any.</summary>
    public string? QueueName => Queue?.Name;

    public IReadOnlyList<CallEvent> Transcript
    {
        get
        {
            lock (transcript)
            {
                return [.. transcript];
            }
        }
    }

    /// <summary>What <see cref="Heard"/> holds for a beep: someone joined or left a conference with beep on.</summary>
    public const string Beep = "[beep]";

    /// <summary>
    /// What the person on this leg heard, in order: the text of every Say, the URL of every Play that
    /// could be fetched, the words another person said to this leg (<see cref="SayAsync"/>, as given),
    /// and <see cref="Beep"/> for each beep of a conference join or leave.
    /// </summary>
    public IReadOnlyList<string> Heard =>
    [
        .. Transcript.Select(e => e switch
        {
            Said said => said.Text,
            Played { HttpStatus: null or (>= 200 and <= 299) } played => played.Url.ToString(),
            HeardSpeech speech => speech.Words,
            ParticipantJoined { Beep: true } or ParticipantLeft { Beep: true } => Beep,
            _ => null,
        }).OfType<string>(),
    ];

    /// <summary>The conference this leg is in now, with its flags (muted, hold, coaching), or null.</summary>
    public ConferenceParticipant? Participant { get; internal set; }

    public SimulatedConference? Conference => Participant?.Conference;

    /// <summary>Every request made to the app for this leg (TwiML, actions, status callbacks).</summary>
    public IReadOnlyList<WebhookCalled> Webhooks => [.. Transcript.OfType<WebhookCalled>()];

    /// <summary>Application errors Twilio would have reported for this leg.</summary>
    public IReadOnlyList<ApplicationError> Errors => [.. Transcript.OfType<ApplicationError>()];

    /// <summary>Types keys at the pending &lt;Gather&gt; (e.g. "2", or "12345678#").</summary>
    public Task PressAsync(string digits, CancellationToken cancellationToken = default) =>
        simulator.PressAsync(this, digits, cancellationToken);

    /// <summary>Says nothing: the pending &lt;Gather&gt; times out (or a &lt;Record&gt; ends silent).</summary>
    public Task StaySilentAsync(CancellationToken cancellationToken = default) =>
        simulator.StaySilentAsync(this, cancellationToken);

    /// <summary>
    /// Speaks into the pending &lt;Record&gt; for <paramref name="length"/>, then presses its finish key
    /// (Digits="#"), or hangs up when <paramref name="thenHangUp"/> (Digits="hangup").
    /// </summary>
    public Task RecordAsync(TimeSpan length, bool thenHangUp = false, CancellationToken cancellationToken = default) =>
        simulator.RecordAsync(this, length, thenHangUp, cancellationToken);

    /// <summary>
    /// Lets <paramref name="duration"/> of virtual time pass (a queue's hold music, phones ringing, a
    /// &lt;Gather&gt; timing out). Returns early when the call ends or a person has something to do.
    /// </summary>
    public Task WaitAsync(TimeSpan duration, CancellationToken cancellationToken = default) =>
        simulator.WaitAsync(this, duration, cancellationToken);

    public Task HangUpAsync(CancellationToken cancellationToken = default) =>
        simulator.HangUpAsync(this, cancellationToken);

    /// <summary>
    /// The person on this leg speaks: in a conference the others hear <paramref name="words"/> (not when
    /// muted or on hold; a coach only to the leg it coaches; nobody on hold hears it), in a two-party
    /// bridge the other leg does. No virtual time passes.
    /// </summary>
    public Task SayAsync(string words, CancellationToken cancellationToken = default) =>
        simulator.SayAsync(this, words, cancellationToken);

    // ---- Engine side: written by the driver, read by this leg's coroutine (the Signal lock orders them).

    internal VirtualTime.Mailbox Mailbox { get; } = new();

    /// <summary>True while the coroutine is blocked waiting for a person (not merely for time to pass).</summary>
    internal bool AwaitingInput { get; set; }

    /// <summary>Increments each time the call starts waiting for a person: "is there a new question?".</summary>
    internal int InputSerial { get; set; }

    internal string? PendingDigits { get; set; }

    internal (TimeSpan Length, bool ThenHangUp)? PendingRecording { get; set; }

    internal bool PendingSilence { get; set; }

    internal bool PendingAnswer { get; set; }

    internal bool PendingDecline { get; set; }

    /// <summary>Who asked to end this leg (caller, callee, api, peer…), or null.</summary>
    internal string? PendingHangUpBy { get; set; }

    internal Fetch? PendingRedirect { get; set; }

    /// <summary>Another leg's &lt;Dial&gt;&lt;Queue&gt; picked this caller.</summary>
    internal Dequeue? PendingDequeue { get; set; }

    /// <summary>The leg this one talks with while <see cref="CallState.Bridged"/>.</summary>
    internal SimulatedCall? Peer { get; set; }

    internal bool PeerLeft { get; set; }

    /// <summary>Something changed in this leg's conference (started, hold, kicked, ended): it re-reads its state.</summary>
    internal bool ConferenceChanged { get; set; }

    internal VoiceSimulator Simulator => simulator;

    internal SimulatedQueue? Queue { get; set; }

    internal TimeSpan StartedAt { get; set; }

    internal TimeSpan? AnsweredAt { get; set; }

    internal TimeSpan? EndedAt { get; set; }

    /// <summary>Ends the ringing or the TwiML: hang-up, redirect or dequeue.</summary>
    internal bool Interrupted => PendingHangUpBy is not null || PendingRedirect is not null || PendingDequeue is not null || PeerLeft || ConferenceChanged;

    internal void Add(CallEvent callEvent)
    {
        lock (transcript)
        {
            transcript.Add(callEvent);
        }
    }
}

/// <summary>A request for TwiML: URL (with its method) or inline TwiML from the REST API.</summary>
internal sealed record Fetch(Uri? Url, string Method, string Purpose, IReadOnlyList<KeyValuePair<string, string>> Parameters, string? Twiml = null)
{
    public static Fetch Inline(string twiml, string purpose) => new(null, "POST", purpose, [], twiml);
}

/// <summary>A &lt;Dial&gt;&lt;Queue&gt; on <paramref name="Agent"/> takes this caller; <paramref name="Url"/> runs on the caller first.</summary>
internal sealed record Dequeue(SimulatedCall Agent, Fetch? Url);
