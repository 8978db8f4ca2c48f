using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Twilio.TwiML;
using Gather = Twilio.TwiML.Voice.Gather;

namespace WsrHotline.Voice;

// "I already have a case": the caller keys in the case number and PIN and hears the status in their
// language. Three wrong PINs lock this number's check of the case for 15 minutes (PinChecks: tries
// are counted per case and per caller, so a stranger cannot lock the worker out).
// Both prompts say "then press the pound key", so both gathers end on # and have no digit count: a
// count would end the gather on the last digit and the # would reach the next gather (an empty PIN,
// or "we did not get that" at the main menu). An empty entry (a lone #, or silence) asks again and
// costs no try; after MaxAttempts of them in a row the call says goodbye.
public sealed partial class VoiceFlow
{
    private VoiceResponse StatusCaseNumberGather(VoiceRequest request, string language, int attempt, VoiceResponse response, int empty = 0)
    {
        var gather = new Gather(finishOnKey: "#", timeout: 10, actionOnEmptyResult: true,
            action: urls.ForTwiml(request.Http, "status/case", ("lang", language), ("attempt", attempt), ("empty", empty)));
        gather.AddPrompt(request.Flow.Render(language, "status_case_number_prompt", null, urls.AudioBase(request.Http)));
        return response.Append(gather);
    }

    /// <summary>POST /twilio/voice/status/case?lang=xx&amp;attempt=N: a case number was keyed in.</summary>
    public async Task<IResult> StatusCaseNumberAsync(VoiceRequest request)
    {
        var attempt = request.QueryNumber("attempt", 1);
        var empty = request.QueryNumber("empty", 0);
        var response = new VoiceResponse();
        if (request.Form.Digits.Length == 0 && empty + 1 < PinChecks.MaxAttempts
            && request.Flow.FindLanguage(request.Query("lang")) is { } asked)
        {
            return Twiml(StatusCaseNumberGather(request, asked.Code, attempt, response, empty + 1));
        }
        // The language rides in the action URL: a well-formed number needs no database to ask for the PIN.
        if (request.Flow.FindLanguage(request.Query("lang")) is { } known && CaseNumbers.IsWellFormed(request.Form.Digits))
        {
            return Twiml(StatusPinGather(request, known.Code, request.Form.Digits, response));
        }
        var (call, language) = await CallAndLanguageAsync(request);
        if (request.Form.Digits.Length == 0)
        {
            return Twiml(await RenderStepAsync(request, call, GoodbyeStep(request.Flow), language, 1, response));
        }
        if (CaseNumbers.IsWellFormed(request.Form.Digits))
        {
            return Twiml(StatusPinGather(request, language, request.Form.Digits, response));
        }
        Prompt(request, response, language, "status_unknown_case");
        return Twiml(attempt < PinChecks.MaxAttempts
            ? StatusCaseNumberGather(request, language, attempt + 1, response)
            : await RenderStepAsync(request, call, GoodbyeStep(request.Flow), language, 1, response));
    }

    private VoiceResponse StatusPinGather(VoiceRequest request, string language, string caseNumber, VoiceResponse response, int empty = 0)
    {
        // The case number rides in the action URL (it is not a secret without the PIN); the PIN never does.
        var gather = new Gather(finishOnKey: "#", timeout: 10, actionOnEmptyResult: true,
            action: urls.ForTwiml(request.Http, "status/pin", ("lang", language), ("case", caseNumber), ("empty", empty)));
        gather.AddPrompt(request.Flow.Render(language, "status_pin_prompt", null, urls.AudioBase(request.Http)));
        return response.Append(gather);
    }

    /// <summary>POST /twilio/voice/status/pin?lang=xx&amp;case=NNNNNNNN: the PIN was keyed in.</summary>
    public async Task<IResult> StatusPinAsync(VoiceRequest request)
    {
        var caseNumber = request.Query("case");
        var empty = request.QueryNumber("empty", 0);
        if (request.Form.Digits.Length == 0 && empty + 1 < PinChecks.MaxAttempts
            && request.Flow.FindLanguage(request.Query("lang")) is { } asked)
        {
            return Twiml(StatusPinGather(request, asked.Code, caseNumber, new VoiceResponse(), empty + 1));
        }
        var (call, language) = await CallAndLanguageAsync(request);
        if (request.Form.Digits.Length == 0)
        {
            return Twiml(await RenderStepAsync(request, call, GoodbyeStep(request.Flow), language, 1, new VoiceResponse()));
        }
        var check = await pins.VerifyAsync(caseNumber, request.Form.Digits, "voice", CallerNumber.Normalize(request.Form.From), request.Cancellation);
        var response = new VoiceResponse();
        switch (check.Outcome)
        {
            case PinCheckOutcome.Verified:
                // The worker proved the case is theirs: this call now belongs to it, so a message
                // they leave or a conversation they ask for joins that case instead of opening one.
                await calls.LinkComplaintAsync(call.Id, check.ComplaintId!.Value, request.Cancellation);
                Prompt(request, response, language, "status_" + check.Status);
                var statusStep = request.Flow.Steps.Values.First(s => s.Type == IvrStepType.StatusCheck);
                return Twiml(await RenderStepAsync(request, call with { ComplaintId = check.ComplaintId }, statusStep.Next ?? GoodbyeStep(request.Flow), language, 1, response));
            case PinCheckOutcome.WrongPin:
                Prompt(request, response, language, "status_wrong_pin");
                return Twiml(StatusPinGather(request, language, caseNumber, response));
            case PinCheckOutcome.Locked or PinCheckOutcome.WrongPinNowLocked:
                Prompt(request, response, language, "status_locked");
                break;
            default:
                Prompt(request, response, language, "status_unknown_case");
                break;
        }
        return Twiml(await RenderStepAsync(request, call, GoodbyeStep(request.Flow), language, 1, response));
    }
}
