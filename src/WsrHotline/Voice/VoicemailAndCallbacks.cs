using Microsoft.Extensions.Options;
using WsrHotline.Ivr;
using WsrHotline.Jobs;

namespace WsrHotline.Voice;

/// <summary>
/// What follows a voicemail or an abandoned call: the recording's copy out of Twilio
/// (<see cref="VoicemailCopies"/>), its playback (<see cref="RecordingStore"/>) and calling the worker
/// back (<see cref="CallingBack"/>, with its own TwiML and status callbacks in the voice group).
/// </summary>
public static class VoicemailAndCallbacks
{
    public static IServiceCollection AddVoicemailAndCallbacks(this IServiceCollection services)
    {
        services.AddSingleton<VoicemailCopies>();
        services.AddJobRetry<VoicemailCopies>(provider =>
        {
            var o = provider.GetRequiredService<IOptions<VoiceOptions>>().Value;
            return JobRetries.Exponential(o.RecordingCopyMaxAttempts, o.RecordingCopyRetryBaseDelay);
        });
        services.AddSingleton<RecordingStore>();
        services.AddSingleton<CallingBack>();
        return services;
    }

    /// <summary>The calls of "Call back", on the signature-checked voice group: each call's TwiML and status callback.</summary>
    public static RouteGroupBuilder MapCallingBack(this RouteGroupBuilder voice)
    {
        voice.MapPost("/callback/staff", (HttpContext http, CallingBack calling, IvrFlowProvider flows) => RunAsync(http, flows, calling.StaffAnsweredAsync))
            // Answering it calls the worker through Twilio's REST API: a longer budget, like the queue's wait URL.
            .WithMetadata(new VoiceBudget(TimeSpan.FromSeconds(5)));
        voice.MapPost("/callback/worker", (HttpContext http, CallingBack calling, IvrFlowProvider flows) => RunAsync(http, flows, calling.WorkerAnsweredAsync));
        voice.MapPost("/callback/staff-status", (HttpContext http, CallingBack calling, IvrFlowProvider flows) => RunAsync(http, flows, calling.StaffStatusAsync));
        voice.MapPost("/callback/worker-status", (HttpContext http, CallingBack calling, IvrFlowProvider flows) => RunAsync(http, flows, calling.WorkerStatusAsync));
        return voice;
    }

    private static async Task<IResult> RunAsync(HttpContext http, IvrFlowProvider flows, Func<VoiceRequest, Task<IResult>> handler)
    {
        if (!http.Request.HasFormContentType)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Twilio posts a form with a CallSid here.");
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        if (string.IsNullOrEmpty(form["CallSid"]) || !long.TryParse(http.Request.Query["attempt"], out _))
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "CallSid and attempt are required.");
        }
        return await handler(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }
}
