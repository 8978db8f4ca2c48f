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
[JsonDerivedType(typeof(ConferenceJoined), "conference-joined")]
[JsonDerivedType(typeof(ConferenceLeft), "conference-left")]
[JsonDerivedType(typeof(ParticipantJoined), "participant-joined")]
[JsonDerivedType(typeof(ParticipantLeft), "participant-left")]
[JsonDerivedType(typeof(HoldChanged), "hold")]
[JsonDerivedType(typeof(Spoke), "spoke")]
[JsonDerivedType(typeof(HeardSpeech), "heard-speech")]
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

/// <summary>This leg entered a conference room (it hears the wait music until the room starts).</summary>
public sealed record ConferenceJoined(TimeSpan At, string ConferenceSid, string FriendlyName) : CallEvent(At);

/// <summary>This leg left the room. <see cref="Reason"/>: left (hung up, redirected), time-limit, kicked, conference-ended.</summary>
public sealed record ConferenceLeft(TimeSpan At, string ConferenceSid, string Reason) : CallEvent(At);

/// <summary>Someone else joined the room this leg is in; <see cref="Beep"/>: this leg heard a beep (in <see cref="SimulatedCall.Heard"/> as "[beep]").</summary>
public sealed record ParticipantJoined(TimeSpan At, string ConferenceSid, string CallSid, string? Label, bool Beep) : CallEvent(At);

/// <summary>Someone else left the room this leg is in; <see cref="Beep"/> as for <see cref="ParticipantJoined"/>.</summary>
public sealed record ParticipantLeft(TimeSpan At, string ConferenceSid, string CallSid, string? Label, bool Beep) : CallEvent(At);

/// <summary>This leg was put on hold (hears the hold TwiML, not the room) or taken off hold.</summary>
public sealed record HoldChanged(TimeSpan At, bool Hold) : CallEvent(At);

/// <summary>The person on this leg said <see cref="Words"/> (<see cref="SimulatedCall.SayAsync"/>); <see cref="HeardBy"/>: how many legs heard it.</summary>
public sealed record Spoke(TimeSpan At, string Words, int HeardBy) : CallEvent(At);

/// <summary>This leg heard the person on <see cref="FromCallSid"/> say <see cref="Words"/> (in <see cref="SimulatedCall.Heard"/> as the words).</summary>
public sealed record HeardSpeech(TimeSpan At, string FromCallSid, string Words) : CallEvent(At);

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
