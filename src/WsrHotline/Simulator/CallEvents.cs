using System.Text.Json.Serialization;

namespace WsrHotline.Simulator;

/// <summary>
/// One thing that happened on a simulated call, at <see cref="At"/> (virtual time since the simulator
/// started). The transcript holds what a caller typed, so it lives in memory only: never log it.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(Said), "said")]
[JsonDerivedType(typeof(Played), "played")]
[JsonDerivedType(typeof(Paused), "paused")]
[JsonDerivedType(typeof(GatherStarted), "gather")]
[JsonDerivedType(typeof(DigitsPressed), "pressed")]
[JsonDerivedType(typeof(GatherTimedOut), "gather-timed-out")]
[JsonDerivedType(typeof(RecordingStarted), "recording-started")]
[JsonDerivedType(typeof(Recorded), "recorded")]
[JsonDerivedType(typeof(Enqueued), "enqueued")]
[JsonDerivedType(typeof(QueueExited), "queue-exited")]
[JsonDerivedType(typeof(Dialed), "dialed")]
[JsonDerivedType(typeof(DialEnded), "dial-ended")]
[JsonDerivedType(typeof(Ringing), "ringing")]
[JsonDerivedType(typeof(Answered), "answered")]
[JsonDerivedType(typeof(Bridged), "bridged")]
[JsonDerivedType(typeof(Unbridged), "unbridged")]
[JsonDerivedType(typeof(Redirected), "redirected")]
[JsonDerivedType(typeof(HungUp), "hung-up")]
[JsonDerivedType(typeof(Rejected), "rejected")]
[JsonDerivedType(typeof(WebhookCalled), "webhook")]
[JsonDerivedType(typeof(ApplicationError), "error")]
public abstract record CallEvent(TimeSpan At);

/// <summary>Text-to-speech the party heard.</summary>
public sealed record Said(TimeSpan At, string Text, string? Voice, string? Language) : CallEvent(At);

/// <summary>An audio file the party heard; <see cref="HttpStatus"/> is what fetching it returned (null: not fetched, another host).</summary>
public sealed record Played(TimeSpan At, Uri Url, int? HttpStatus) : CallEvent(At);

public sealed record Paused(TimeSpan At, double Seconds) : CallEvent(At);

/// <summary>A &lt;Gather&gt; started listening (its prompts were heard before this).</summary>
public sealed record GatherStarted(TimeSpan At, int? NumDigits, int TimeoutSeconds, string FinishOnKey, Uri Action) : CallEvent(At);

public sealed record DigitsPressed(TimeSpan At, string Digits) : CallEvent(At);

/// <summary>A &lt;Gather&gt; ended without input; <see cref="ActionRequested"/> when actionOnEmptyResult was set.</summary>
public sealed record GatherTimedOut(TimeSpan At, bool ActionRequested) : CallEvent(At);

public sealed record RecordingStarted(TimeSpan At, int MaxLengthSeconds, string FinishOnKey, bool Beep) : CallEvent(At);

/// <summary>A &lt;Record&gt; ended; <see cref="Digits"/> is "hangup", the key that ended it, or null (silence, maxLength).</summary>
public sealed record Recorded(TimeSpan At, string RecordingSid, Uri RecordingUrl, int DurationSeconds, string? Digits) : CallEvent(At);

public sealed record Enqueued(TimeSpan At, string Queue, string QueueSid) : CallEvent(At);

/// <summary>Left a queue: <see cref="Result"/> is Twilio's QueueResult (leave, bridged, hangup, redirected, error).</summary>
public sealed record QueueExited(TimeSpan At, string Queue, string Result, int QueueTimeSeconds) : CallEvent(At);

/// <summary>A &lt;Dial&gt; started: the numbers rung at once, or "queue:{name}".</summary>
public sealed record Dialed(TimeSpan At, IReadOnlyList<string> Targets) : CallEvent(At);

/// <summary>A &lt;Dial&gt; ended with Twilio's DialCallStatus.</summary>
public sealed record DialEnded(TimeSpan At, string DialCallStatus, string? DialCallSid, int DialCallDurationSeconds) : CallEvent(At);

/// <summary>This leg (a simulated phone) started ringing.</summary>
public sealed record Ringing(TimeSpan At) : CallEvent(At);

public sealed record Answered(TimeSpan At) : CallEvent(At);

public sealed record Bridged(TimeSpan At, string WithCallSid) : CallEvent(At);

public sealed record Unbridged(TimeSpan At, string WithCallSid) : CallEvent(At);

public sealed record Redirected(TimeSpan At, Uri Url) : CallEvent(At);

/// <summary>The call ended. <see cref="By"/>: caller, callee, twiml, api, peer, simulator, error.</summary>
public sealed record HungUp(TimeSpan At, string By, string CallStatus) : CallEvent(At);

public sealed record Rejected(TimeSpan At, string Reason) : CallEvent(At);

/// <summary>A request the simulator made to the app, as Twilio would, and the HTTP status it got (0: no answer).</summary>
public sealed record WebhookCalled(TimeSpan At, string Purpose, string Method, Uri Url, int StatusCode) : CallEvent(At);

/// <summary>
/// What Twilio reports as an application error (non-2xx, unreachable app, unparsable or unsupported
/// TwiML), with Twilio's error code: 11200 HTTP retrieval failure, 12100 document parse failure,
/// 12200 schema validation (unsupported verb or noun).
/// </summary>
public sealed record ApplicationError(TimeSpan At, int ErrorCode, string Message, Uri? Url, int? StatusCode) : CallEvent(At);
