namespace WsrHotline.Simulator;

/// <summary>How a simulated phone reacts when it rings.</summary>
public enum PhoneMode
{
    /// <summary>Picks up after <see cref="PhoneBehavior.RingSeconds"/>.</summary>
    Answer,

    /// <summary>Rings until the caller gives up.</summary>
    NoAnswer,

    /// <summary>Returns a busy signal at once.</summary>
    Busy,

    /// <summary>Rings until a person (test or web page) answers or declines, and types at prompts.</summary>
    Manual,
}

/// <summary>A simulated phone's behaviour, e.g. <c>PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 5)</c>.</summary>
public sealed record PhoneBehavior(PhoneMode Mode, int RingSeconds = 3, string? PressDigits = null, int? HangUpAfterSeconds = null)
{
    public static PhoneBehavior NoAnswer { get; } = new(PhoneMode.NoAnswer);

    public static PhoneBehavior Busy { get; } = new(PhoneMode.Busy);

    public static PhoneBehavior Manual { get; } = new(PhoneMode.Manual);

    /// <summary>Answers after ringing <paramref name="afterSeconds"/>; presses <paramref name="pressDigits"/> at every &lt;Gather&gt; (silent when null).</summary>
    public static PhoneBehavior Answer(string? pressDigits = null, int afterSeconds = 3) =>
        new(PhoneMode.Answer, afterSeconds, pressDigits);

    /// <summary>Answers after <paramref name="ringSeconds"/>, then hangs up <paramref name="afterSeconds"/> after answering.</summary>
    public static PhoneBehavior AnswerThenHangUp(int afterSeconds, string? pressDigits = null, int ringSeconds = 3) =>
        new(PhoneMode.Answer, ringSeconds, pressDigits, afterSeconds);
}

/// <summary>
/// A phone the simulator can ring: an investigator's mobile, an emergency on-call number. Calls to a
/// number without a simulated phone are never answered.
/// </summary>
public sealed class SimulatedPhone
{
    private readonly VoiceSimulator simulator;
    private readonly List<SimulatedCall> calls = [];

    internal SimulatedPhone(VoiceSimulator simulator, string number)
    {
        this.simulator = simulator;
        Number = number;
    }

    public string Number { get; }

    /// <summary>How the phone reacts to the next call. Changing it does not affect a call already ringing.</summary>
    public PhoneBehavior Behavior { get; set; } = PhoneBehavior.Answer();

    /// <summary>Every call that rang this phone, oldest first.</summary>
    public IReadOnlyList<SimulatedCall> Calls
    {
        get
        {
            lock (calls)
            {
                return [.. calls];
            }
        }
    }

    /// <summary>The call ringing or connected right now, if any.</summary>
    public SimulatedCall? CurrentCall => Calls.LastOrDefault(call => call.State != CallState.Completed);

    /// <summary>Everything said or played to this phone, over all its calls.</summary>
    public IReadOnlyList<string> Heard => [.. Calls.SelectMany(call => call.Heard)];

    /// <summary>Picks up the ringing call (a <see cref="PhoneMode.Manual"/> phone).</summary>
    public Task AnswerAsync(CancellationToken cancellationToken = default) =>
        simulator.AnswerAsync(RingingCall(), cancellationToken);

    /// <summary>Rejects the ringing call (the caller's side sees busy).</summary>
    public Task DeclineAsync(CancellationToken cancellationToken = default) =>
        simulator.DeclineAsync(RingingCall(), cancellationToken);

    /// <summary>Types digits at the &lt;Gather&gt; the current call is waiting on.</summary>
    public Task PressAsync(string digits, CancellationToken cancellationToken = default) =>
        (CurrentCall ?? throw new InvalidOperationException("This phone has no call in progress.")).PressAsync(digits, cancellationToken);

    public Task HangUpAsync(CancellationToken cancellationToken = default) =>
        (CurrentCall ?? throw new InvalidOperationException("This phone has no call in progress.")).HangUpAsync(cancellationToken);

    /// <summary>The person on this phone speaks into its current call (see <see cref="SimulatedCall.SayAsync"/>).</summary>
    public Task SayAsync(string words, CancellationToken cancellationToken = default) =>
        (CurrentCall ?? throw new InvalidOperationException("This phone has no call in progress.")).SayAsync(words, cancellationToken);

    internal void Add(SimulatedCall call)
    {
        lock (calls)
        {
            calls.Add(call);
        }
    }

    private SimulatedCall RingingCall() =>
        Calls.LastOrDefault(call => call.State == CallState.Ringing)
        ?? throw new InvalidOperationException("This phone is not ringing.");
}
