using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WsrHotline.Simulator;

/// <summary>Where the app is and how Twilio would call it.</summary>
public sealed class VoiceSimulatorSettings
{
    /// <summary>
    /// The app's base address as Twilio calls it (Twilio:PublicBaseUrl when set). Webhook URLs are
    /// built and signed against it, like Twilio signs the URL configured in its console.
    /// </summary>
    public required Uri AppBaseUrl { get; init; }

    /// <summary>
    /// Where the app really listens, when that differs from <see cref="AppBaseUrl"/> (a public name the
    /// simulator cannot resolve). Requests for the AppBaseUrl host are sent here instead.
    /// </summary>
    public Uri? TransportBaseUrl { get; init; }

    public required string AccountSid { get; init; }

    public required string AuthToken { get; init; }

    /// <summary>
    /// Where the app reaches the REST stand-in (<c>Twilio:ApiBaseUrl</c> when it points at the stand-in):
    /// the media URLs of workers' texts are on it, like Twilio's are on api.twilio.com, so the app
    /// fetches them with its credentials. Default: the stand-in on <see cref="TransportBaseUrl"/>.
    /// </summary>
    public Uri? ApiBaseUrl { get; init; }

    /// <summary>The toll-free number's "A call comes in" webhook.</summary>
    public string VoiceUrl { get; init; } = "/twilio/voice/incoming";

    /// <summary>The number's "Call status changes" webhook; null for none.</summary>
    public string? StatusCallbackUrl { get; init; } = "/twilio/voice/status";

    /// <summary>The number's "Primary handler fails" URL, requested when the voice URL fails; null for none.</summary>
    public string? FallbackUrl { get; init; }

    /// <summary>The number workers call, when a call does not say otherwise.</summary>
    public string DefaultTo { get; init; } = "+18005550100";

    /// <summary>The hotline's SMS number: where a worker's SMS goes when a text does not say otherwise.</summary>
    public string SmsNumber { get; init; } = "+18005550101";

    /// <summary>The hotline's WhatsApp sender (<c>whatsapp:+…</c>).</summary>
    public string WhatsAppSender { get; init; } = "whatsapp:+18005550102";

    /// <summary>The messaging number's "A message comes in" webhook.</summary>
    public string MessagingUrl { get; init; } = "/twilio/messaging/incoming";

    /// <summary>
    /// How long after a sent message is created its delivery reports follow. Not at once: the app
    /// records the message's sid only after Twilio answered the create, and a report must find it.
    /// </summary>
    public TimeSpan TextDeliveryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A number nobody configured rings on the page for a person to answer (the local run), instead
    /// of going unanswered (tests, which set each phone's behaviour).
    /// </summary>
    public bool UnknownPhonesRingForAPerson { get; init; }
}

/// <summary>
/// Twilio's stand-in: rings the app's voice webhook like a caller would, follows its TwiML, signs every
/// request, rings simulated phones, and answers the app's REST calls. Generic: it knows TwiML, not the
/// IVR. Time is virtual (see <see cref="VirtualTime"/>), so tests never sleep.
/// One operation runs at a time; the REST stand-in only registers work, which the running operation
/// picks up once the app's current webhook has been answered (no re-entrancy deadlock).
/// </summary>
public sealed partial class VoiceSimulator : IDisposable
{
    private const int MaxStepsPerOperation = 100_000;

    private readonly SemaphoreSlim operation = new(1, 1);
    private readonly ConcurrentDictionary<string, SimulatedCall> calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SimulatedPhone> phones = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SimulatedQueue> queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MadeRecording> recordings = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Action> pendingRestWork = new();
    private readonly ConcurrentQueue<Exception> faults = new();
    private readonly List<SimulatedCall> callOrder = [];
    private int humanRequests;
    private int forgedSignatures;

    public VoiceSimulator(HttpClient httpClient, VoiceSimulatorSettings settings, ILogger<VoiceSimulator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        Logger = (ILogger?)logger ?? NullLogger.Instance;
        Webhooks = new WebhookSender(httpClient, settings, this);
        StartedAtUtc = DateTimeOffset.UtcNow;
    }

    public VoiceSimulatorSettings Settings { get; }

    public void Dispose() => operation.Dispose();

    /// <summary>Virtual time since the simulator was created.</summary>
    public TimeSpan Now => Time.Now;

    /// <summary>The wall-clock instant virtual time started at (for timestamps sent to the app).</summary>
    public DateTimeOffset StartedAtUtc { get; }

    /// <summary>Every call leg so far, oldest first: callers, REST-placed calls and &lt;Dial&gt; legs.</summary>
    public IReadOnlyList<SimulatedCall> Calls
    {
        get
        {
            lock (callOrder)
            {
                return [.. callOrder];
            }
        }
    }

    public IReadOnlyList<SimulatedPhone> Phones => [.. phones.Values.OrderBy(p => p.Number, StringComparer.Ordinal)];

    /// <summary>Sign the next webhook with a wrong X-Twilio-Signature, to see the app refuse it.</summary>
    public void ForgeNextSignature() => Interlocked.Increment(ref forgedSignatures);

    internal VirtualTime Time { get; } = new();

    internal ILogger Logger { get; }

    internal WebhookSender Webhooks { get; }

    /// <summary>The simulated phone with this number, created (answering after 3 s) the first time it is asked for.</summary>
    public SimulatedPhone Phone(string number)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(number);
        return phones.GetOrAdd(number, n => new SimulatedPhone(this, n));
    }

    public SimulatedCall? FindCall(string sid) => calls.GetValueOrDefault(sid);

    /// <summary>
    /// A worker calls the hotline: requests the voice URL and runs its TwiML until the caller is asked
    /// for input, queued, bridged, or the call ends.
    /// </summary>
    public async Task<SimulatedCall> CallAsync(string from, string? to = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(from);
        var started = await RunOperationAsync(
            () =>
            {
                var call = NewCall(from, to ?? Settings.DefaultTo, "inbound", phone: null, parentCallSid: null);
                call.Status = "ringing";
                call.State = CallState.Running;
                var leg = new LegRunner(this, call);
                Time.Start(leg.RunInboundAsync, exception => Fault(call, exception));
                return (Call: call, Settled: SettledCondition(call, inputSerial: 0));
            },
            start => start.Settled(),
            _ => null,
            cancellationToken);
        return started.Call;
    }

    internal Task PressAsync(SimulatedCall call, string digits, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(digits);
        if (digits.Any(c => !char.IsAsciiDigit(c) && c is not '*' and not '#'))
        {
            throw new ArgumentException("Only 0-9, * and # can be pressed.", nameof(digits));
        }

        return ActAsync(call, CallState.WaitingForDigits, "press keys", c => c.PendingDigits = digits, cancellationToken);
    }

    internal Task StaySilentAsync(SimulatedCall call, CancellationToken cancellationToken)
    {
        if (call.State is not (CallState.WaitingForDigits or CallState.Recording) || !call.AwaitingInput)
        {
            throw new InvalidOperationException($"The call is {call.State}: there is no <Gather> or <Record> to stay silent at.");
        }

        return ActAsync(call, call.State, "stay silent", c => c.PendingSilence = true, cancellationToken);
    }

    internal Task RecordAsync(SimulatedCall call, TimeSpan length, bool thenHangUp, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, TimeSpan.Zero);
        return ActAsync(call, CallState.Recording, "record", c => c.PendingRecording = (length, thenHangUp), cancellationToken);
    }

    internal Task HangUpAsync(SimulatedCall call, CancellationToken cancellationToken)
    {
        if (call.State == CallState.Completed)
        {
            return Task.CompletedTask;
        }

        var by = call.Direction == "inbound" ? "caller" : "callee";
        return ActAsync(call, requiredState: null, "hang up", c => c.PendingHangUpBy ??= by, cancellationToken);
    }

    internal Task AnswerAsync(SimulatedCall call, CancellationToken cancellationToken) =>
        ActAsync(call, CallState.Ringing, "answer", c => c.PendingAnswer = true, cancellationToken);

    internal Task DeclineAsync(SimulatedCall call, CancellationToken cancellationToken) =>
        ActAsync(call, CallState.Ringing, "decline", c => c.PendingDecline = true, cancellationToken);

    internal async Task WaitAsync(SimulatedCall call, TimeSpan duration, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        await RunOperationAsync(
            () =>
            {
                var serial = call.InputSerial;
                var others = Volatile.Read(ref humanRequests);
                return (Deadline: Time.Now + duration, Serial: serial, Others: others);
            },
            start => call.State == CallState.Completed
                || (call.NeedsHuman && call.InputSerial != start.Serial)
                || Volatile.Read(ref humanRequests) != start.Others,
            start => start.Deadline,
            cancellationToken);
    }

    /// <summary>
    /// Lets virtual time pass with no call in particular (phones ring, queues play). With
    /// <see cref="TimeSpan.Zero"/> it only acts on REST calls the app made outside any webhook.
    /// </summary>
    public Task AdvanceAsync(TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        return RunOperationAsync(
            () => (Deadline: Time.Now + duration, Others: Volatile.Read(ref humanRequests)),
            start => Volatile.Read(ref humanRequests) != start.Others,
            start => start.Deadline,
            cancellationToken);
    }

    /// <summary>Hands a person's action to a leg and runs until that leg is settled again.</summary>
    private async Task ActAsync(SimulatedCall call, CallState? requiredState, string what, Action<SimulatedCall> deliver, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        await RunOperationAsync(
            () =>
            {
                if (call.State == CallState.Completed || (requiredState is { } required && (call.State != required || !call.AwaitingInput)))
                {
                    throw new InvalidOperationException($"Cannot {what}: the call is {call.State}{(call.AwaitingInput ? "" : " and not waiting for a person")}.");
                }

                var settled = SettledCondition(call, call.InputSerial);
                deliver(call);
                Time.Signal(call.Mailbox);
                return settled;
            },
            settled => settled(),
            _ => null,
            cancellationToken);
    }

    /// <summary>
    /// Settled: the call ended, asks its person something new, waits in a queue or talks; or a manual
    /// phone elsewhere started needing a person.
    /// </summary>
    private Func<bool> SettledCondition(SimulatedCall call, int inputSerial)
    {
        var others = Volatile.Read(ref humanRequests);
        return () => call.State == CallState.Completed
            || (call.NeedsHuman && call.InputSerial != inputSerial)
            || (!call.AwaitingInput && call.State is CallState.InQueue or CallState.Bridged or CallState.InConference)
            || Volatile.Read(ref humanRequests) != others;
    }

    /// <summary>
    /// The driver: lets the legs run until all are blocked, hands them the app's REST work, checks
    /// <paramref name="done"/>, and otherwise fires the next timer (moving virtual time).
    /// </summary>
    private async Task<T> RunOperationAsync<T>(Func<T> start, Func<T, bool> done, Func<T, TimeSpan?> deadline, CancellationToken cancellationToken)
    {
        await operation.WaitAsync(cancellationToken);
        try
        {
            var state = start();
            var until = deadline(state);
            for (var step = 0; ; step++)
            {
                if (step > MaxStepsPerOperation)
                {
                    throw new InvalidOperationException($"The simulation did not settle after {MaxStepsPerOperation} steps (a TwiML loop without pauses?).");
                }

                await Time.WhenQuietAsync().WaitAsync(cancellationToken);
                ThrowFaults();

                // The app's REST calls arrive while it answers a webhook; act on them only now.
                if (RunPendingRestWork())
                {
                    continue;
                }

                if (done(state) || !Time.FireNextTimer(until))
                {
                    return state;
                }
            }
        }
        finally
        {
            operation.Release();
        }
    }

    private bool RunPendingRestWork()
    {
        var any = false;
        while (pendingRestWork.TryDequeue(out var work))
        {
            work();
            any = true;
        }

        return any;
    }

    private void ThrowFaults()
    {
        if (faults.TryDequeue(out var fault))
        {
            throw new InvalidOperationException("A simulated call leg failed inside the simulator.", fault);
        }
    }

    internal void Fault(SimulatedCall call, Exception exception)
    {
        LogLegFault(Logger, exception, call.Sid);
        call.Add(new ApplicationError(Time.Now, 0, "Simulator failure: " + exception.Message, null, null));
        call.State = CallState.Completed;
        faults.Enqueue(exception);
    }

    internal SimulatedCall NewCall(string from, string to, string direction, SimulatedPhone? phone, string? parentCallSid)
    {
        var call = new SimulatedCall(this, NewSid("CA"), from, to, direction, phone, parentCallSid) { StartedAt = Time.Now };
        calls[call.Sid] = call;
        lock (callOrder)
        {
            callOrder.Add(call);
        }

        phone?.Add(call);
        return call;
    }

    /// <summary>
    /// The REST stand-in's POST Calls.json: the leg exists (and has its sid) at once, and starts ringing
    /// once the running operation is between webhooks. The app may call this from inside a webhook.
    /// </summary>
    internal SimulatedCall RegisterOutbound(string to, string from, OutboundRequest request)
    {
        var call = NewCall(from, to, "outbound-api", PhoneFor(to), parentCallSid: null);
        call.State = CallState.Ringing;
        pendingRestWork.Enqueue(() => LegRunner.StartOutbound(this, call, request));
        LogOutboundCallRegistered(Logger, call.Sid);
        return call;
    }

    /// <summary>The REST stand-in's POST Calls/{Sid}.json: new TwiML, or an end to the call.</summary>
    internal void RequestUpdate(SimulatedCall call, Fetch? redirect, string? status)
    {
        pendingRestWork.Enqueue(() =>
        {
            if (call.State == CallState.Completed)
            {
                return;
            }

            if (status is not null)
            {
                call.PendingHangUpBy ??= "api";
            }
            else
            {
                call.PendingRedirect = redirect;
            }

            Time.Signal(call.Mailbox);
        });
    }

    internal SimulatedPhone? FindPhone(string number) => phones.GetValueOrDefault(number);

    /// <summary>The phone a leg to this number rings: a configured one, or (see settings) a new manual one.</summary>
    internal SimulatedPhone? PhoneFor(string number) =>
        Settings.UnknownPhonesRingForAPerson
            ? phones.GetOrAdd(number, n => new SimulatedPhone(this, n) { Behavior = PhoneBehavior.Manual })
            : FindPhone(number);

    internal SimulatedQueue Queue(string name) => queues.GetOrAdd(name, n => new SimulatedQueue(n, NewSid("QU")));

    internal SimulatedQueue? FindQueue(string name) => queues.GetValueOrDefault(name);

    /// <summary>Marks that a leg began to wait for a person (stops the running operation).</summary>
    internal void HumanNeeded(SimulatedCall call)
    {
        call.InputSerial++;
        if (call.Phone is not null)
        {
            Interlocked.Increment(ref humanRequests);
        }
    }

    internal bool TakeForgedSignature()
    {
        while (true)
        {
            var current = Volatile.Read(ref forgedSignatures);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref forgedSignatures, current - 1, current) == current)
            {
                return true;
            }
        }
    }

    internal string AddRecording(string callSid, int durationSeconds)
    {
        var sid = NewSid("RE");
        recordings[sid] = new MadeRecording(sid, callSid, durationSeconds, DateTimeOffset.UtcNow);
        return sid;
    }

    /// <summary>
    /// A recording Twilio made on a call whose recording callbacks never reached the hotline (an outage):
    /// only the REST stand-in's Recordings list knows it. Returns its RecordingSid.
    /// </summary>
    public string AddLostRecording(string callSid, int durationSeconds)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(callSid);
        return AddRecording(callSid, durationSeconds);
    }

    /// <summary>When set, the REST stand-in answers every conference update (ending one) with this HTTP status (for tests).</summary>
    public int? ConferenceUpdatesFailWith { get; set; }

    /// <summary>When set, the REST stand-in answers every recording DELETE with this HTTP status (a Twilio outage, for tests).</summary>
    public int? RecordingDeletesFailWith { get; set; }

    /// <summary>Deletes a recording, as Twilio's DELETE does: it is no longer listed, served or found. False when there was none.</summary>
    public bool DeleteRecording(string recordingSid) => recordings.TryRemove(recordingSid, out _);

    /// <summary>The length of a recording made in this simulator (and not deleted), or null.</summary>
    public int? RecordingDuration(string recordingSid) =>
        recordings.TryGetValue(recordingSid, out var made) ? made.DurationSeconds : null;

    /// <summary>Every recording made, oldest first (the stand-in's Recordings list).</summary>
    internal IReadOnlyList<MadeRecording> Recordings => [.. recordings.Values.OrderBy(r => r.At)];

    internal void Enqueue(Action restWork) => pendingRestWork.Enqueue(restWork);

    internal DateTimeOffset UtcAt(TimeSpan at) => StartedAtUtc + at;

    internal static string NewSid(string prefix) => prefix + Guid.NewGuid().ToString("N");

    [LoggerMessage(EventId = 7304, EventName = "SimulatorOutboundCallRegistered", Level = LogLevel.Debug,
        Message = "Simulated Twilio API created call {CallSid}")]
    private static partial void LogOutboundCallRegistered(ILogger logger, string callSid);

    [LoggerMessage(EventId = 7301, EventName = "SimulatorLegFault", Level = LogLevel.Error,
        Message = "Simulated call leg {CallSid} failed inside the simulator")]
    private static partial void LogLegFault(ILogger logger, Exception exception, string callSid);
}

/// <summary>A named queue of callers (Twilio creates one on the first &lt;Enqueue&gt;).</summary>
internal sealed class SimulatedQueue(string name, string sid)
{
    public string Name { get; } = name;

    public string Sid { get; } = sid;

    /// <summary>Callers waiting, first in line first. Touched only by legs, one at a time per clock step.</summary>
    public List<SimulatedCall> Members { get; } = [];

    /// <summary>Legs whose &lt;Dial&gt;&lt;Queue&gt; waits for someone to join.</summary>
    public List<SimulatedCall> Dialers { get; } = [];

    public List<double> CompletedWaits { get; } = [];

    public int AverageWaitSeconds => CompletedWaits.Count == 0 ? 0 : (int)Math.Round(CompletedWaits.Average());
}

/// <summary>A recording the simulator made, as its Recordings list gives it.</summary>
internal sealed record MadeRecording(string Sid, string CallSid, int DurationSeconds, DateTimeOffset At);
