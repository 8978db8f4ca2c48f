using System.Globalization;
using Microsoft.Extensions.Options;
using Twilio.Clients;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Twilio.TwiML;
using Gather = Twilio.TwiML.Voice.Gather;

namespace WsrHotline.Voice;

/// <summary>
/// What one voice webhook needs: the request (for URLs), Twilio's form, the live IVR flow and the
/// request's cancellation (which carries the database budget).
/// </summary>
public sealed record VoiceRequest(HttpRequest Http, VoiceForm Form, IvrFlow Flow)
{
    public CancellationToken Cancellation => Http.HttpContext.RequestAborted;

    public string Query(string name) => Http.Query[name].ToString();

    public int QueryNumber(string name, int fallback) =>
        int.TryParse(Http.Query[name], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}

/// <summary>
/// The voice IVR: interprets the steps of <c>ivr-flows/hotline.yaml</c> as TwiML, one webhook at a
/// time. State lives in the <c>calls</c> row (by CallSid) and in the action URLs (language, attempt),
/// so any instance can answer any step.
/// </summary>
public sealed partial class VoiceFlow(
    CallStore calls,
    CallStarts starts,
    CallMoves moves,
    CallLegs legs,
    ConsoleOffers consoleOffers,
    CallConferences conferences,
    CallPresence presence,
    CallControls controls,
    PinChecks pins,
    VoiceUrls urls,
    ITwilioRestClient twilioRest,
    IOptions<Hosting.HotlineOptions> hotline,
    IOptions<VoiceOptions> options,
    IOptions<IvrOptions> ivr,
    TimeProvider time,
    ILogger<VoiceFlow> logger)
{
    private const int MaxInlineSteps = 8;

    private VoiceOptions Options => options.Value;

    /// <summary>POST /twilio/voice/incoming: a worker calls. The greeting and the language menu, in every language.</summary>
    public async Task<IResult> IncomingAsync(VoiceRequest request)
    {
        var call = await starts.EnsureInboundAsync(request.Form, request.Flow.StartStep.Id, request.Cancellation);
        LogIncoming(logger, call.Id);
        return Twiml(LanguageMenu(request, attempt: 1));
    }

    /// <summary>POST /twilio/voice/language?attempt=N: the caller pressed a language digit (or nothing).</summary>
    public async Task<IResult> LanguageChosenAsync(VoiceRequest request)
    {
        var flow = request.Flow;
        var attempt = request.QueryNumber("attempt", 1);
        var language = flow.FindLanguageByDigit(request.Form.Digits);
        if (language is null && attempt < flow.StartStep.MaxAttempts)
        {
            return Twiml(LanguageMenu(request, attempt + 1));
        }

        var chosen = language?.Code ?? flow.DefaultLanguage.Code;
        var next = flow.StartStep.Next!;
        var call = await MoveAsync(request, next, chosen);
        return Twiml(await RenderStepAsync(request, call, next, chosen, attempt: 1));
    }

    /// <summary>POST /twilio/voice/step/{step}?lang=xx: a step reached by a redirect.</summary>
    public async Task<IResult> StepAsync(VoiceRequest request, string step)
    {
        var (call, language) = await CallAndLanguageAsync(request);
        if (!request.Flow.Steps.ContainsKey(step))
        {
            // An action URL from a flow that has since been edited: carry on from the start.
            step = request.Flow.StartStep.Next!;
        }
        return Twiml(await RenderStepAsync(request, call, step, language, request.QueryNumber("attempt", 1)));
    }

    /// <summary>POST /twilio/voice/step/{step}/input?lang=xx&amp;attempt=N: a menu answered (or not).</summary>
    public async Task<IResult> MenuInputAsync(VoiceRequest request, string step)
    {
        var language = request.Flow.FindLanguage(request.Query("lang"))?.Code;
        var attempt = request.QueryNumber("attempt", 1);
        var again = new VoiceResponse();
        string next;
        if (!request.Flow.Steps.TryGetValue(step, out var menu))
        {
            next = request.Flow.StartStep.Next!;
        }
        else if (menu.Options.TryGetValue(request.Form.Digits, out var chosen))
        {
            next = chosen;
        }
        else if (attempt < menu.MaxAttempts)
        {
            next = step;
            attempt++;
            Prompt(request, again, language ?? request.Flow.DefaultLanguage.Code, "invalid_input");
        }
        else
        {
            // Three times nothing useful: the sensible default (talk to someone), never a silent hang-up.
            next = menu.Default ?? menu.Next!;
            attempt = 1;
        }
        var call = await MoveAsync(request, next, language);
        return Twiml(await RenderStepAsync(request, call, next, language ?? call.LanguageCode ?? request.Flow.DefaultLanguage.Code, attempt, again));
    }

    private VoiceResponse LanguageMenu(VoiceRequest request, int attempt, VoiceResponse? into = null)
    {
        var gather = new Gather(numDigits: 1, timeout: 6, actionOnEmptyResult: true,
            action: urls.ForTwiml(request.Http, "language", ("attempt", attempt)));
        // Each language greets and offers itself in its own words: nobody meets an English-only menu.
        return (into ?? new VoiceResponse()).Append(gather.AddPrompt(request.Flow.RenderLanguageMenu(request.Flow.StartStep, urls.AudioBase(request.Http))));
    }

    /// <summary>
    /// Renders a step (and the plain "say" steps after it) into one TwiML document, and records where
    /// the caller is. <paramref name="into"/> lets a caller put a prompt before the step.
    /// </summary>
    private async Task<VoiceResponse> RenderStepAsync(
        VoiceRequest request, CallRow call, string stepId, string language, int attempt, VoiceResponse? into = null)
    {
        var response = into ?? new VoiceResponse();
        var flow = request.Flow;
        for (var hops = 0; hops < MaxInlineSteps; hops++)
        {
            var step = flow.Steps[stepId];
            if (step.Type == IvrStepType.Say)
            {
                Prompts(request, response, language, step.Prompts);
                stepId = step.Next!;
                continue;
            }

            // One write per webhook: where the caller now is (routing and abandonment depend on it),
            // unless the webhook already moved the call there. A menu changes nothing that matters
            // (a hang-up there is "abandoned in the menu" either way), so it costs no write.
            if (call.Stage != stepId && step.Type != IvrStepType.Menu)
            {
                await calls.SetStageAsync(call.Id, stepId, language, request.Cancellation);
            }
            switch (step.Type)
            {
                case IvrStepType.Menu:
                    var gather = new Gather(numDigits: 1, timeout: 6, actionOnEmptyResult: true,
                        action: urls.ForTwiml(request.Http, $"step/{stepId}/input", ("lang", language), ("attempt", attempt)));
                    return response.Append(gather.AddPrompt(flow.Render(language, step.Prompts, null, urls.AudioBase(request.Http))));
                case IvrStepType.Route:
                    return await RouteAsync(request, call, step, language, response);
                case IvrStepType.Voicemail:
                    return Voicemail(request, step, language, response);
                case IvrStepType.Readout:
                    return await ReadoutAsync(request, call, step, language, response);
                case IvrStepType.StatusCheck:
                    return StatusCaseNumberGather(request, language, attempt, response);
                case IvrStepType.Hangup:
                    Prompts(request, response, language, step.Prompts);
                    return response.Hangup();
                case IvrStepType.LanguageMenu:
                    // The start step named in a URL (no flow leads back to it): the language menu again.
                    return LanguageMenu(request, attempt, response);
                default:
                    throw new InvalidOperationException($"IVR step type '{step.Type}' has no interpreter here.");
            }
        }
        throw new InvalidOperationException($"IVR flow loops through 'say' steps at '{stepId}'.");
    }

    /// <summary>Moves the call to the step the webhook leads to (past plain "say" steps), returning it.</summary>
    private async Task<CallRow> MoveAsync(VoiceRequest request, string stepId, string? language)
    {
        var stage = stepId;
        for (var hops = 0; request.Flow.Steps[stage].Type == IvrStepType.Say && hops < MaxInlineSteps; hops++)
        {
            stage = request.Flow.Steps[stage].Next!;
        }
        if (request.Flow.Steps[stage].Type == IvrStepType.Menu && language is null)
        {
            // Back to a menu in a known language: nothing to write, just the call.
            return await RequireCallAsync(request);
        }
        return await moves.MoveAsync(request.Form.CallSid, stage, language, request.Cancellation)
            ?? await RequireCallAsync(request);
    }

    private async Task<CallRow> RequireCallAsync(VoiceRequest request) =>
        await calls.FindAsync(request.Form.CallSid, request.Cancellation)
        // A step for a call we never saw (its incoming webhook was lost): adopt it.
        ?? await starts.EnsureInboundAsync(request.Form, "unknown", request.Cancellation);

    private async Task<(CallRow Call, string Language)> CallAndLanguageAsync(VoiceRequest request)
    {
        var call = await RequireCallAsync(request);
        var language = request.Flow.FindLanguage(request.Query("lang"))?.Code ?? call.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        return (call, language);
    }

    private void Prompts(VoiceRequest request, VoiceResponse response, string language, IEnumerable<string> keys, IReadOnlyDictionary<string, string>? values = null)
    {
        foreach (var key in keys)
        {
            Prompt(request, response, language, key, values);
        }
    }

    private void Prompt(VoiceRequest request, VoiceResponse response, string language, string key, IReadOnlyDictionary<string, string>? values = null) =>
        response.AddPrompt(request.Flow.Render(language, key, values, urls.AudioBase(request.Http)));

    private static TwiMLResult Twiml(VoiceResponse response) => new(response);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Incoming call {CallId}")]
    private static partial void LogIncoming(ILogger logger, long callId);
}
