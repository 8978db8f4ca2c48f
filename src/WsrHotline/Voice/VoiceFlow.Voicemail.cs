using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Twilio.TwiML;

namespace WsrHotline.Voice;

// Voicemail: the worker leaves a message, the call becomes a complaint (or joins the one it already
// has), the worker hears the case number digit by digit and a PIN, and the hotline owes a callback.
public sealed partial class VoiceFlow
{
    private VoiceResponse Voicemail(VoiceRequest request, IvrStep step, string language, VoiceResponse response)
    {
        Prompts(request, response, language, step.Prompts);
        return response
            .Record(
                maxLength: step.MaxLengthSeconds ?? 180,
                timeout: 8,
                finishOnKey: "#",
                playBeep: true,
                action: urls.ForTwiml(request.Http, "recorded", ("lang", language)),
                recordingStatusCallback: urls.ForTwiml(request.Http, "recording"))
            // Reached only when the caller said nothing at all: no message, no case; say goodbye.
            .Redirect(urls.ForTwiml(request.Http, $"step/{GoodbyeStep(request.Flow)}", ("lang", language)));
    }

    /// <summary>POST /twilio/voice/recorded?lang=xx: the message is recorded. Case number, PIN, callback promise.</summary>
    public async Task<IResult> RecordedAsync(VoiceRequest request)
    {
        var (call, language) = await CallAndLanguageAsync(request);
        var complaintId = await calls.EnsureComplaintAsync(call, language, request.Cancellation);
        await calls.MarkVoicemailAsync(call.Id, request.Cancellation);
        if (!string.IsNullOrEmpty(request.Form.RecordingSid))
        {
            await calls.StoreRecordingAsync(call.Id, request.Form.RecordingSid, request.Form.RecordingUrl, request.Form.RecordingDuration, request.Cancellation);
        }
        await calls.AppendTimelineAsync(complaintId, TimelineActor.Worker, null, "voicemail.left",
            new { recording_sid = request.Form.RecordingSid, duration_seconds = request.Form.RecordingDuration }, request.Cancellation);
        await OweCallbackAsync(request, call with { LanguageCode = language }, complaintId, "voicemail");

        var step = request.Flow.Steps[request.Flow.Steps.Values.First(s => s.Type == IvrStepType.Voicemail).Next!];
        return Twiml(await RenderStepAsync(request, call with { ComplaintId = complaintId }, step.Id, language, 1));
    }

    /// <summary>POST /twilio/voice/recording: Twilio's recording status callback. Stores the reference once.</summary>
    public async Task<IResult> RecordingAsync(VoiceRequest request)
    {
        if (request.Form.Fields["RecordingStatus"] is var status && status.Count > 0 && status != "completed")
        {
            return Results.Ok();
        }
        var call = await RequireCallAsync(request);
        if (await calls.StoreRecordingAsync(call.Id, request.Form.RecordingSid, request.Form.RecordingUrl, request.Form.RecordingDuration, request.Cancellation))
        {
            var language = call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
            var complaintId = await calls.EnsureComplaintAsync(call, language, request.Cancellation);
            await calls.AppendTimelineAsync(complaintId, TimelineActor.System, null, "voicemail.recording_stored",
                new { recording_sid = request.Form.RecordingSid, duration_seconds = request.Form.RecordingDuration }, request.Cancellation);
            await OweCallbackAsync(request, call with { LanguageCode = language }, complaintId, "voicemail");
        }
        return Results.Ok();
    }

    private async Task OweCallbackAsync(VoiceRequest request, CallRow call, long? complaintId, string reason)
    {
        if (await calls.OweCallbackAsync(call, complaintId, reason, time.GetUtcNow() + Options.CallbackDue, request.Cancellation))
        {
            await calls.AppendTimelineAsync(complaintId, TimelineActor.System, null, "callback.owed",
                new { reason, due_in_minutes = Options.CallbackDue.TotalMinutes }, request.Cancellation);
        }
    }

    /// <summary>Reads the case number digit by digit and a PIN: a new one when the worker has not heard one yet.</summary>
    private async Task<VoiceResponse> ReadoutAsync(
        VoiceRequest request, CallRow call, IvrStep step, string language, VoiceResponse response, bool includeVoicemailPrompts = true)
    {
        var complaintId = await calls.EnsureComplaintAsync(call, language, request.Cancellation);
        var (caseNumber, pin) = await pins.IssueIfUntoldAsync(complaintId, request.Cancellation);
        var values = new Dictionary<string, string> { ["case_number"] = caseNumber };
        if (pin is not null)
        {
            values["pin"] = pin;
        }
        foreach (var key in step.Prompts)
        {
            var skip = (key == "pin_readout" && pin is null) || (!includeVoicemailPrompts && key == "voicemail_saved");
            if (!skip)
            {
                Prompt(request, response, language, key, values);
            }
        }
        await calls.AppendTimelineAsync(complaintId, TimelineActor.System, null, "case_number.told",
            new { channel = "voice", pin_issued = pin is not null }, request.Cancellation);
        return await RenderStepAsync(request, call with { ComplaintId = complaintId }, step.Next ?? GoodbyeStep(request.Flow), language, 1, response);
    }

    private static string GoodbyeStep(IvrFlow flow) => flow.Steps.Values.First(s => s.Type == IvrStepType.Hangup).Id;
}
