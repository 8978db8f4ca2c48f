using WsrHotline.Ivr;
using WsrHotline.Twilio;

namespace WsrHotline.Voice;

public static class VoiceEndpoints
{
    public static IServiceCollection AddVoiceIntake(this IServiceCollection services)
    {
        services.AddOptions<VoiceOptions>()
            .BindConfiguration("Voice")
            .Validate(options => options.DatabaseBudget > TimeSpan.Zero && options.StepDatabaseBudget > TimeSpan.Zero,
                "Voice:DatabaseBudget and Voice:StepDatabaseBudget must be positive (e.g. 00:00:00.8 and 00:00:03).")
            .Validate(options => !string.IsNullOrWhiteSpace(options.SpoolPath), "Voice:SpoolPath must name a folder that survives restarts.")
            .ValidateOnStart();
        services.AddSingleton<CallStore>();
        services.AddSingleton<CallStarts>();
        services.AddSingleton<CallMoves>();
        services.AddSingleton<CallLegs>();
        services.AddSingleton<ConsoleOffers>();
        services.AddSingleton<VoiceUrls>();
        services.AddSingleton<VoiceSpool>();
        services.AddSingleton<EmergencyTwiml>();
        services.AddSingleton<VoiceFlow>();
        services.AddSingleton<DatabaseOutageFilter>();
        services.AddHostedService<VoiceSpoolReplayer>();
        return services;
    }

    /// <summary>
    /// The Twilio voice webhooks. <c>/twilio/voice/incoming</c> is the number's Voice URL and
    /// <c>/twilio/voice/status</c> its status callback; every other address is reached through the
    /// action URLs of our own TwiML. All of them require Twilio's signature.
    /// </summary>
    public static IEndpointRouteBuilder MapVoiceIntake(this IEndpointRouteBuilder endpoints)
    {
        var voice = endpoints.MapGroup(VoiceUrls.Prefix)
            .RequireTwilioSignature()
            .AddEndpointFilter<DatabaseOutageFilter>();

        var firstAnswer = endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<VoiceOptions>>().Value.DatabaseBudget;
        voice.MapPost("/incoming", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.IncomingAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency), new VoiceBudget(firstAnswer));
        voice.MapPost("/language", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.LanguageChosenAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/step/{step}", (string step, HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.StepAsync(request, step))).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/step/{step}/input", (string step, HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.MenuInputAsync(request, step))).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));

        voice.MapPost("/wait", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.WaitAsync))
            // Ringing a tier calls Twilio's REST API too: a longer budget, and on outage the caller leaves
            // the queue, whose action answers with the emergency ring-through.
            .WithMetadata(new OnDatabaseOutage(OutageAnswer.LeaveQueue), new VoiceBudget(TimeSpan.FromSeconds(5)));
        voice.MapPost("/queue-result", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.QueueResultAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/screen", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.ScreenAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Acknowledge));
        voice.MapPost("/screen-result", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.ScreenResultAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Acknowledge));
        voice.MapPost("/console-bridge", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.ConsoleBridgeAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Acknowledge));
        voice.MapPost("/leg-status", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.LegStatusAsync));

        voice.MapPost("/recorded", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.RecordedAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Goodbye));
        voice.MapPost("/recording", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.RecordingAsync));
        voice.MapPost("/status", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusAsync));

        voice.MapPost("/status/case", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusCaseNumberAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/status/pin", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusPinAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));

        voice.MapPost("/emergency/screen", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, request => Task.FromResult(flow.EmergencyScreen(request))));
        voice.MapPost("/emergency/screen-result", (HttpContext http, IvrFlowProvider flows) =>
            Run(http, flows, request => Task.FromResult(VoiceFlow.EmergencyScreenResult(request))));
        voice.MapPost("/emergency/dial-result", (HttpContext http, VoiceFlow flow, VoiceSpool spool, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.EmergencyDialResultAsync(request, spool)));
        voice.MapPost("/emergency/recorded", (HttpContext http, VoiceFlow flow, VoiceSpool spool, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.EmergencyRecordedAsync(request, spool)));
        return endpoints;
    }

    private static async Task<IResult> Run(HttpContext http, IvrFlowProvider flows, Func<VoiceRequest, Task<IResult>> handler)
    {
        // The signature filter has read (and cached) the form already.
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        return await handler(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }
}
