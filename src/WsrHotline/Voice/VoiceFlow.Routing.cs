using Twilio.Exceptions;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Twilio.TwiML;
using Dial = Twilio.TwiML.Voice.Dial;
using Gather = Twilio.TwiML.Voice.Gather;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using CreateCallOptions = Twilio.Rest.Api.V2010.Account.CreateCallOptions;
using PhoneNumber = Twilio.Types.PhoneNumber;

namespace WsrHotline.Voice;

// Routing by language: the caller waits in a queue of their own, hearing hold messages in their
// language, while the app rings the on-call phones of that language tier by tier. An investigator
// who picks up is screened ("press 1 to accept") so a personal voicemail never takes a worker's call;
// the first to accept joins the call's conference, and the caller is moved there (VoiceFlow.Conference.cs).
// Nobody in time: the caller leaves the queue for voicemail.
public sealed partial class VoiceFlow
{
    private static string QueueName(long callId) => $"call-{callId}";

    private async Task<VoiceResponse> RouteAsync(VoiceRequest request, CallRow call, IvrStep step, string language, VoiceResponse response)
    {
        var complaintId = await calls.EnsureComplaintAsync(call, language, request.Cancellation);
        await calls.AppendTimelineAsync(complaintId, TimelineActor.System, null, "call.routing", new { language }, request.Cancellation);
        Prompts(request, response, language, step.Prompts);
        return response.Enqueue(
            QueueName(call.Id),
            waitUrl: urls.ForTwiml(request.Http, "wait", ("lang", language)),
            action: urls.ForTwiml(request.Http, "queue-result", ("lang", language)));
    }

    /// <summary>
    /// POST /twilio/voice/wait: Twilio asks this again and again while the caller waits. It rings the
    /// next tier when the current one has rung long enough (or everyone in it declined), and sends the
    /// caller on to voicemail when no tier is left.
    /// </summary>
    public async Task<IResult> WaitAsync(VoiceRequest request)
    {
        var (call, language) = await CallAndLanguageAsync(request);
        var response = new VoiceResponse();
        var step = request.Flow.Steps.Values.FirstOrDefault(s => s.Type == IvrStepType.Route);

        // The consoles first: while the call rings there, the caller hears hold messages.
        var inConsoles = call.AnsweredBy is null && call.TierRung == 0 && !call.ConsoleOfferSettled
            && await consoleOffers.OfferAsync(call.Id, language, request.Cancellation) == ConsoleOfferState.Ringing;
        if (call.AnsweredBy is null && !inConsoles && !await RingNextTierIfDueAsync(request, call, language))
        {
            await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.System, null, "call.no_answer",
                new { tiers_rung = call.TierRung, waited_seconds = request.Form.QueueTime }, request.Cancellation);
            return Twiml(response.Leave());
        }

        Prompts(request, response, language, step?.HoldPrompts ?? ["hold_message"]);
        return Twiml(response.Pause(length: 2));
    }

    /// <summary>False when there is nobody left to ring and the current tier is done.</summary>
    private async Task<bool> RingNextTierIfDueAsync(VoiceRequest request, CallRow call, string language)
    {
        var queueTime = request.Form.QueueTime;
        if (call.TierRung > 0)
        {
            var rangLongEnough = queueTime >= (call.TierRungQueueTime ?? 0) + ivr.Value.RingSecondsPerTier;
            if (!rangLongEnough && !await legs.TierExhaustedAsync(call.Id, call.TierRung, request.Cancellation))
            {
                return true;
            }
        }

        var now = time.GetUtcNow();
        var tier = await legs.NextCoveredTierAsync(language, call.TierRung, now, request.Cancellation);
        if (tier is not { } next)
        {
            return false;
        }
        var staff = await legs.OnCallAsync(language, next, now, request.Cancellation);
        var created = await legs.StartTierAsync(call.Id, next, queueTime, staff, request.Cancellation);
        foreach (var (leg, phone) in created)
        {
            await RingAsync(request, leg, phone);
        }
        await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.System, null, "call.rung",
            new { tier = next, staff_ids = created.Select(c => c.Leg.StaffId).ToArray() }, request.Cancellation);
        return true;
    }

    private async Task RingAsync(VoiceRequest request, CallLeg leg, string phone)
    {
        try
        {
            // A 5xx or a timeout is tried again (TwilioRetries): a phone rung twice beats one never rung.
            var created = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(phone), new PhoneNumber(hotline.Value.TollFreeNumber))
            {
                Url = new Uri(urls.For(request.Http, "screen", ("leg", leg.Id))),
                StatusCallback = new Uri(urls.For(request.Http, "leg-status", ("leg", leg.Id))),
                StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                Timeout = ivr.Value.RingSecondsPerTier,
            }, twilioRest);
            await legs.SetLegSidAsync(leg.Id, created.Sid, created.Status?.ToString() ?? "", request.Cancellation);
        }
        catch (TwilioException ex) when (!request.Cancellation.IsCancellationRequested)
        {
            // One phone that cannot be rung must not stop the others, nor the caller's wait.
            LogRingFailed(logger, leg.Id, TwilioFailures.Describe(ex));
            await legs.SetLegSidAsync(leg.Id, null, "failed", request.Cancellation);
        }
    }

    /// <summary>POST /twilio/voice/screen?leg=N: an investigator picked up. Ask before bridging.</summary>
    public async Task<IResult> ScreenAsync(VoiceRequest request)
    {
        var response = new VoiceResponse();
        if (await LegWithCallAsync(request) is not var (leg, call))
        {
            return Twiml(response.Hangup());
        }
        var language = call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        await legs.MarkAsync(leg.Id, "answered", request.Cancellation);
        if (ScreeningRefusal(call) is { } refusal)
        {
            Prompt(request, response, language, refusal);
            return Twiml(response.Hangup());
        }

        var gather = new Gather(numDigits: 1, timeout: 8, action: urls.ForTwiml(request.Http, "screen-result", ("leg", leg.Id)));
        // "Hotline call in Español": {language} is the call's language in its own name.
        var screening = request.Flow.Render(language, "screening", null, urls.AudioBase(request.Http));
        // Said twice: the investigator may still be bringing the phone to their ear.
        gather.AddPrompt(screening).Pause(length: 1).AddPrompt(screening);
        // No key pressed (a voicemail answered, or the investigator cannot take it): this leg declines.
        return Twiml(response.Append(gather).Hangup());
    }

    /// <summary>POST /twilio/voice/screen-result?leg=N: 1 accepts (the first wins); anything else declines.</summary>
    public async Task<IResult> ScreenResultAsync(VoiceRequest request)
    {
        var response = new VoiceResponse();
        if (await LegWithCallAsync(request) is not var (leg, call))
        {
            return Twiml(response.Hangup());
        }
        var language = call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        if (request.Form.Digits != "1")
        {
            await legs.MarkAsync(leg.Id, "declined", request.Cancellation);
            await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.Staff, leg.StaffId, "call.declined", new { tier = leg.Tier }, request.Cancellation);
            return Twiml(response.Hangup());
        }
        if (!await legs.ClaimAsync(leg, request.Cancellation))
        {
            Prompt(request, response, language, ScreeningRefusal(await calls.FindByIdAsync(leg.CallId, request.Cancellation) ?? call) ?? "screening_taken");
            return Twiml(response.Hangup());
        }

        return await ConnectAnsweredAsync(request, leg, language, new { tier = leg.Tier, leg_id = leg.Id });
    }

    /// <summary>
    /// POST /twilio/voice/console-bridge?leg=N: the browser (or phone) of an investigator who accepted
    /// in the console answered. They already chose the call, so no screening: bridge to the caller.
    /// </summary>
    public async Task<IResult> ConsoleBridgeAsync(VoiceRequest request)
    {
        var response = new VoiceResponse();
        if (await LegWithCallAsync(request) is not var (leg, call))
        {
            return Twiml(response.Hangup());
        }
        var language = call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        if (call.AnsweredBy == leg.StaffId && call.Ended)
        {
            return await RefuseAnswerAsync(request, leg, call, language);
        }
        if (call.AnsweredBy != leg.StaffId || call.Stage != "connect")
        {
            Prompt(request, response, language, call.Stage != "connect" || call.Ended ? "screening_caller_left" : "screening_taken");
            return Twiml(response.Hangup());
        }
        return await ConnectAnsweredAsync(request, leg, language, new { tier = 0, leg_id = leg.Id, via = "console" });
    }

    /// <summary>The leg named by the action URL (<c>?leg=N</c>) and the caller's call; null when either is unknown.</summary>
    private async Task<(CallLeg Leg, CallRow Call)?> LegWithCallAsync(VoiceRequest request)
    {
        var leg = await legs.FindAsync(request.QueryNumber("leg", 0), request.Cancellation);
        var call = leg is null ? null : await calls.FindByIdAsync(leg.CallId, request.Cancellation);
        return leg is null || call is null ? null : (leg, call);
    }

    private static string? ScreeningRefusal(CallRow call) =>
        call.AnsweredBy is not null ? "screening_taken"
        : call.Stage != "connect" || call.Ended ? "screening_caller_left"
        : null;

    /// <summary>POST /twilio/voice/queue-result: the caller left the queue: talked, timed out, or hung up.</summary>
    public async Task<IResult> QueueResultAsync(VoiceRequest request)
    {
        var (call, language) = await CallAndLanguageAsync(request);
        var response = new VoiceResponse();
        switch (request.Form.QueueResult)
        {
            case "bridged":
                // The conversation is over; if the worker is still there, they hear their case number and PIN.
                var readout = request.Flow.Steps.Values.First(s => s.Type == IvrStepType.Readout);
                return Twiml(await ReadoutAsync(request, call, readout, language, response, includeVoicemailPrompts: false));
            case "hangup":
                return Twiml(response.Hangup());
            case "redirected" or "redirected-from-bridged":
                // Taken out of the queue into the call's conference (join-conference answers from here).
                return Twiml(response);
            default:
                // leave (nobody answered in time), queue-full, error: voicemail, so nothing is lost.
                var route = request.Flow.Steps.Values.First(s => s.Type == IvrStepType.Route);
                return Twiml(await RenderStepAsync(request, call, route.OnNoAnswer!, language, 1, response));
        }
    }

    /// <summary>POST /twilio/voice/leg-status?leg=N: Twilio's progress reports on an investigator's phone.</summary>
    public async Task<IResult> LegStatusAsync(VoiceRequest request)
    {
        var legId = request.QueryNumber("leg", 0);
        var status = request.Form.CallStatus;
        if (status is "busy" or "no-answer" or "failed" or "canceled")
        {
            // A console leg that never got through frees the call for the phone tiers (no-op for other legs).
            await consoleOffers.ReleaseAsync(legId, request.Cancellation);
        }
        if (await legs.ApplyStatusAsync(legId, status, request.Form.CallDuration, request.Cancellation)
            && await legs.FindAsync(legId, request.Cancellation) is { } leg
            && await calls.FindByIdAsync(leg.CallId, request.Cancellation) is { } call)
        {
            await calls.AppendTimelineAsync(call.ComplaintId, TimelineActor.System, leg.StaffId, "call.leg_ended", new
            {
                tier = leg.Tier,
                outcome = leg.Status is "accepted" or "declined" ? leg.Status : status,
                duration_seconds = request.Form.CallDuration,
            }, request.Cancellation);
        }
        return Results.Ok();
    }

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Could not ring leg {LegId}: {Error}")]
    private static partial void LogRingFailed(ILogger logger, long legId, string error);
}
