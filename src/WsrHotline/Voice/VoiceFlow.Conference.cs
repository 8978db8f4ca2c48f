using Twilio.Exceptions;
using Twilio.TwiML;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using Conference = Twilio.TwiML.Voice.Conference;
using Dial = Twilio.TwiML.Voice.Dial;
using UpdateCallOptions = Twilio.Rest.Api.V2010.Account.UpdateCallOptions;

namespace WsrHotline.Voice;

// A conference per answered call, named after it (call-{id}). The investigator whose leg was accepted
// starts it; the app then takes the caller out of their queue (Twilio's call update, Url = join-conference)
// into the same conference. The caller's exit ends it; the investigator's does not (a colleague, an
// interpreter or a coordinator may stay). When it ends the caller hears their case number and PIN.
public sealed partial class VoiceFlow
{
    private static readonly Conference.EventEnum[] ConferenceEvents =
    [
        Conference.EventEnum.Start, Conference.EventEnum.End, Conference.EventEnum.Join, Conference.EventEnum.Leave,
        Conference.EventEnum.Mute, Conference.EventEnum.Hold, Conference.EventEnum.Modify,
    ];

    /// <summary>
    /// The accepted investigator's leg goes into the call's conference, and the caller is taken out of
    /// the queue into it. When the caller has gone (the call ended, or Twilio refuses to move it), the
    /// answer is refused: the investigator is told and hung up, nothing is recorded as answered, and
    /// the worker is owed a callback.
    /// </summary>
    private async Task<IResult> ConnectAnsweredAsync(VoiceRequest request, CallLeg leg, string language, object answered)
    {
        var response = new VoiceResponse();
        var call = await calls.FindByIdAsync(leg.CallId, request.Cancellation);
        if (call is null || call.Ended || !await MoveCallerToConferenceAsync(request, call, language))
        {
            return await RefuseAnswerAsync(request, leg, call, language);
        }
        await calls.RecordAnsweredAsync(call.ComplaintId, leg.StaffId, answered, request.Cancellation);
        await consoleOffers.AnnounceAnsweredAsync(call.Id, call.ComplaintId, language, leg.StaffId, request.Cancellation);
        var dial = new Dial(action: urls.ForTwiml(request.Http, "staff-left", ("leg", leg.Id), ("call", call.Id)));
        dial.Conference(CallConferences.Name(call.Id),
            startConferenceOnEnter: true,
            endConferenceOnExit: false,
            waitUrl: HoldMusicUrl(request.Http, language, held: false),
            statusCallback: urls.ForTwiml(request.Http, "conference-status", ("call", call.Id)),
            statusCallbackEvent: ConferenceEvents,
            participantLabel: CallConferences.StaffLabel(leg.StaffId));
        return Twiml(response.Append(dial));
    }

    private async Task<bool> MoveCallerToConferenceAsync(VoiceRequest request, CallRow call, string language)
    {
        try
        {
            var moved = await CallResource.UpdateAsync(new UpdateCallOptions(call.CallSid)
            {
                Url = urls.ForTwiml(request.Http, "join-conference", ("call", call.Id), ("lang", language)),
                Method = global::Twilio.Http.HttpMethod.Post,
            }, twilioRest);
            return moved.Status is null || !CallStore.IsTerminal(moved.Status.ToString());
        }
        catch (TwilioException ex) when (!request.Cancellation.IsCancellationRequested)
        {
            // 21220 "Call is not in-progress. Cannot redirect." (or 20404): the caller hung up meanwhile.
            // Anything else after the retries: the caller cannot be reached either; the phones ring again.
            LogCallerGone(logger, call.Id, TwilioFailures.Describe(ex));
            return false;
        }
    }

    private async Task<IResult> RefuseAnswerAsync(VoiceRequest request, CallLeg leg, CallRow? call, string language)
    {
        var response = new VoiceResponse();
        var released = await calls.UnclaimAsync(leg, request.Cancellation);
        if (released is { } fresh)
        {
            await calls.AppendTimelineAsync(fresh.ComplaintId, TimelineActor.System, leg.StaffId, "call.answer_refused",
                new { reason = "caller_left", leg_id = leg.Id }, request.Cancellation);
            if (fresh.Ended)
            {
                // The ended status came while the call was claimed: the abandonment it did not see is owed now.
                await OweIfAbandonedAsync(request, fresh);
            }
        }
        Prompt(request, response, call?.LanguageCode ?? language, "screening_caller_left");
        return Twiml(response.Hangup());
    }

    /// <summary>POST /twilio/voice/join-conference?call=N&amp;lang=xx: the caller, taken out of the queue, joins the call's conference.</summary>
    public async Task<IResult> JoinConferenceAsync(VoiceRequest request)
    {
        var (call, language) = await CallAndLanguageAsync(request);
        var response = new VoiceResponse();
        if (call.AnsweredBy is null)
        {
            // The answer was withdrawn (its investigator's leg was refused): back to the queue, to be rung again.
            return Twiml(response.Enqueue(QueueName(call.Id),
                waitUrl: urls.ForTwiml(request.Http, "wait", ("lang", language)),
                action: urls.ForTwiml(request.Http, "queue-result", ("lang", language))));
        }
        await calls.SetStageAsync(call.Id, "conference", language, request.Cancellation);
        var dial = new Dial(action: urls.ForTwiml(request.Http, "after-conference", ("lang", language)));
        dial.Conference(CallConferences.Name(call.Id),
            startConferenceOnEnter: true,
            endConferenceOnExit: true,
            waitUrl: HoldMusicUrl(request.Http, language, held: false),
            statusCallback: urls.ForTwiml(request.Http, "conference-status", ("call", call.Id)),
            statusCallbackEvent: ConferenceEvents,
            participantLabel: CallConferences.WorkerLabel);
        return Twiml(response.Append(dial));
    }

    /// <summary>
    /// POST /twilio/voice/after-conference?lang=xx: the conversation is over; a worker still there hears
    /// their case number and PIN, in the call's language as it is now: a transfer to another language's
    /// queue changed it after this URL (with the language the worker chose) was written.
    /// </summary>
    public async Task<IResult> AfterConferenceAsync(VoiceRequest request)
    {
        var (call, chosen) = await CallAndLanguageAsync(request);
        var language = call.LanguageCode is { } now && request.Flow.FindLanguage(now) is { } current ? current.Code : chosen;
        var response = new VoiceResponse();
        if (request.Form.CallStatus is "completed" or "canceled" or "failed")
        {
            return Twiml(response.Hangup());
        }
        var readout = request.Flow.Steps.Values.First(s => s.Type == IvrStepType.Readout);
        return Twiml(await ReadoutAsync(request, call, readout, language, response, includeVoicemailPrompts: false));
    }

    /// <summary>POST /twilio/voice/staff-left?leg=N&amp;call=N: an investigator's leg left the conference (or it ended).</summary>
    public async Task<IResult> StaffLeftAsync(VoiceRequest request)
    {
        if (await legs.FindAsync(request.QueryNumber("leg", 0), request.Cancellation) is { } leg)
        {
            await presence.CallEndedAsync(leg.CallId, leg.StaffId, request.Cancellation);
        }
        return Twiml(new VoiceResponse().Hangup());
    }

    /// <summary>
    /// POST /twilio/voice/hold-music?lang=xx: what a worker waiting for the conference to start hears
    /// (the route's hold messages), or, with <c>held=1</c>, a worker the investigator put on hold
    /// (<see cref="IvrPromptKeys.OnHold"/>): in their language, again and again, never silence. No database.
    /// </summary>
    public IResult HoldMusic(VoiceRequest request)
    {
        var language = request.Flow.FindLanguage(request.Query("lang"))?.Code ?? request.Flow.DefaultLanguage.Code;
        var held = request.Query("held") == "1";
        var response = new VoiceResponse();
        var waiting = request.Flow.Steps.Values.FirstOrDefault(s => s.Type == IvrStepType.Route)?.HoldPrompts ?? [IvrPromptKeys.HoldMessage];
        Prompts(request, response, language, held ? [IvrPromptKeys.OnHold] : waiting);
        return Twiml(response.Pause(length: 3).Redirect(HoldMusicUrl(request.Http, language, held)));
    }

    /// <summary>The hold URL of a conference participant: for waiting, or (<paramref name="held"/>) for being on hold.</summary>
    public Uri HoldMusicUrl(HttpRequest request, string? language, bool held) => held
        ? urls.ForTwiml(request, "hold-music", ("lang", language), ("held", 1))
        : urls.ForTwiml(request, "hold-music", ("lang", language));

    /// <summary>
    /// POST /twilio/voice/conference-status?call=N: the conference's status callbacks keep its
    /// participants; an investigator who leaves starts their wrap-up; a worker left alone with nobody
    /// of the hotline is not kept waiting: the conference ends and they hear their readout.
    /// </summary>
    public async Task<IResult> ConferenceStatusAsync(VoiceRequest request)
    {
        var callId = request.QueryNumber("call", 0);
        var change = await conferences.ApplyAsync(callId, ConferenceEvent.From(request.Form.Fields), request.Cancellation);
        if (change is null)
        {
            return Results.Ok();
        }
        if (change.LeavingCallSid is { } leaving && change.ConferenceSid is { } conference)
        {
            if (!await controls.RemoveOrRetryAsync(conference, leaving, request.Cancellation))
            {
                // The first investigator is still in the call with their colleague until the job takes them out (or they hang up).
                LogEndConferenceFailed(logger, callId, "participant not removed; a job tries again");
            }
        }
        if (change.Kind == "conference-end")
        {
            await presence.CallEndedAsync(callId, null, request.Cancellation);
        }
        else if (change.Kind == "participant-leave" && change.Participant is { StaffId: { } staffId })
        {
            await presence.CallEndedAsync(callId, staffId, request.Cancellation);
            if (change.OnlyWorkerLeft && change.ConferenceSid is { } sid)
            {
                if (!await controls.EndConferenceOrRetryAsync(sid, request.Cancellation))
                {
                    LogEndConferenceFailed(logger, callId, "conference not ended; a job tries again");
                }
            }
        }
        return Results.Ok();
    }

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Call {CallId}: Twilio failed a conference change: {Error}")]
    private static partial void LogEndConferenceFailed(ILogger logger, long callId, string error);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Call {CallId}: the caller had gone when the answer came ({Error}); answer refused")]
    private static partial void LogCallerGone(ILogger logger, long callId, string error);
}
