using WsrHotline.Intake;

namespace WsrHotline.Voice;

// The number's status callback. Duplicate and out-of-order callbacks change nothing (the status rank
// only moves forward); the one that ends the call decides whether the worker was left hanging.
public sealed partial class VoiceFlow
{
    // Where a hang-up means the worker gave up waiting for help: they are owed a callback. A caller
    // who heard their case's status has had what they asked for: hanging up in the menus after it is
    // no abandoned call (asking for a person, then hanging up while it rings, still is).
    private static readonly HashSet<string> AbandonableStages = new(StringComparer.Ordinal)
    {
        "incoming", "unknown", "language_menu", "notice", "main_menu", "connect",
    };

    /// <summary>POST /twilio/voice/status: the call progressed or ended.</summary>
    public async Task<IResult> StatusAsync(VoiceRequest request)
    {
        // A status for a call never seen (its incoming webhook was refused) has nothing to update.
        if (await calls.FindAsync(request.Form.CallSid, request.Cancellation) is not { } call)
        {
            return Results.Ok();
        }
        var ended = await calls.ApplyStatusAsync(call.CallSid, request.Form.CallStatus, request.Form.CallDuration, request.Cancellation);
        if (!ended)
        {
            return Results.Ok();
        }

        // Re-read: the stage and answer may have changed since the call row was first loaded.
        call = await calls.FindByIdAsync(call.Id, request.Cancellation) ?? call;
        await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.System, null, "call.ended",
            new { status = request.Form.CallStatus, duration_seconds = request.Form.CallDuration }, request.Cancellation);
        // Every console that still shows the call's offer clears it; whoever was on it wraps up.
        await calls.AnnounceEndedAsync(call, request.Cancellation);
        await presence.CallEndedAsync(call.Id, null, request.Cancellation);
        await OweIfAbandonedAsync(request, call);
        return Results.Ok();
    }

    /// <summary>A call that ended unanswered, with no voicemail, in the menu or while ringing: the worker is owed a callback.</summary>
    private async Task OweIfAbandonedAsync(VoiceRequest request, CallRow call)
    {
        if (call.AnsweredBy is null && call.VoicemailAt is null && AbandonableStages.Contains(call.Stage)
            && !(call.Stage != "connect" && await calls.StatusToldAsync(call.Id, request.Cancellation)))
        {
            var reason = call.Stage == "connect" ? "abandoned_ringing" : "abandoned_menu";
            await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.Worker, null, "call.abandoned",
                new { stage = call.Stage }, request.Cancellation);
            await OweCallbackAsync(request, call, call.ComplaintId, reason);
            LogAbandoned(logger, call.Id, call.Stage, call.CallerIdentityId is not null);
        }
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information,
        Message = "Call {CallId} abandoned at {Stage}; callback owed: {CallbackOwed}")]
    private static partial void LogAbandoned(ILogger logger, long callId, string stage, bool callbackOwed);
}
