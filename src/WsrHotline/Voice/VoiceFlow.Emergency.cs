using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Spool;
using WsrHotline.Twilio;
using Twilio.TwiML;

namespace WsrHotline.Voice;

// The emergency path (database down): its endpoints never touch the database. What they learn (who
// called, whether someone answered, the voicemail) is spooled and stored by the replayer once
// PostgreSQL is back, through the same code as live calls.
public sealed partial class VoiceFlow
{
    public IResult EmergencyScreen(VoiceRequest request) =>
        Twiml(EmergencyTwiml.Screen(request.Flow, path => urls.ForTwiml(request.Http, path), urls.AudioBase(request.Http)));

    public static IResult EmergencyScreenResult(VoiceRequest request) =>
        // An empty document ends the screening and bridges the call; anything but 1 declines it.
        Twiml(request.Form.Digits == "1" ? new VoiceResponse() : new VoiceResponse().Hangup());

    public async Task<IResult> EmergencyDialResultAsync(VoiceRequest request, WebhookSpool spool)
    {
        await spool.KeepAsync(request.Http, request.Form.Fields);
        if (request.Form.Fields["DialCallStatus"] == "completed")
        {
            return Twiml(new VoiceResponse().Hangup());
        }
        return Twiml(EmergencyTwiml.Voicemail(new VoiceResponse(), request.Flow, path => urls.ForTwiml(request.Http, path), urls.AudioBase(request.Http)));
    }

    public async Task<IResult> EmergencyRecordedAsync(VoiceRequest request, WebhookSpool spool)
    {
        await spool.KeepAsync(request.Http, request.Form.Fields);
        return Twiml(EmergencyTwiml.Goodbye(request.Flow, urls.AudioBase(request.Http)));
    }

    /// <summary>Replays a spooled emergency dial result: a call someone answered is not abandoned.</summary>
    public async Task ReplayEmergencyDialResultAsync(VoiceRequest request)
    {
        var call = await RequireCallAsync(request);
        if (request.Form.Fields["DialCallStatus"] == "completed")
        {
            await calls.SetStageAsync(call.Id, "emergency_answered", null, request.Cancellation);
        }
    }

    /// <summary>Replays a spooled emergency voicemail: it becomes a complaint with a callback owed.</summary>
    public async Task ReplayEmergencyVoicemailAsync(VoiceRequest request)
    {
        var call = await RequireCallAsync(request);
        var language = call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        var complaintId = await calls.EnsureComplaintAsync(call, language, request.Cancellation);
        await calls.MarkVoicemailAsync(call.Id, request.Cancellation);
        if (!string.IsNullOrEmpty(request.Form.RecordingSid))
        {
            await calls.StoreRecordingAsync(call.Id, request.Form.RecordingSid, request.Form.RecordingUrl, request.Form.RecordingDuration, request.Cancellation);
        }
        await calls.AppendTimelineAsync(complaintId, TimelineActor.Worker, null, "voicemail.left",
            new { recording_sid = request.Form.RecordingSid, during_outage = true }, request.Cancellation);
        await OweCallbackAsync(request, call with { LanguageCode = language }, complaintId, "voicemail");
    }
}
