using WsrHotline.Ivr;
using WsrHotline.Spool;
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
            .Validate(options => options.WrapUpMaximum >= TimeSpan.Zero, "Voice:WrapUpMaximum must not be negative (e.g. 00:02:00; zero: no wrap-up).")
            .Validate(options => options.OfferedDispositions.Any(), "Voice:Dispositions must leave at least one disposition for the wrap-up.")
            .Validate(options => options.RecordingCopyMaxAttempts >= 1 && options.RecordingCopyRetryBaseDelay >= TimeSpan.Zero,
                "Voice:RecordingCopyMaxAttempts must be at least 1 and Voice:RecordingCopyRetryBaseDelay not negative (e.g. 8 and 00:00:30).")
            .Validate(options => options.Interpreters.Values.All(i => !string.IsNullOrWhiteSpace(i.Phone) && !string.IsNullOrWhiteSpace(i.Name)),
                "Voice:Interpreters: each line needs a Name and a Phone (E.164).")
            .ValidateOnStart();
        services.AddSingleton<CallStore>();
        services.AddSingleton<CallStarts>();
        services.AddSingleton<CallMoves>();
        services.AddSingleton<CallLegs>();
        services.AddSingleton<ConsoleOffers>();
        services.AddSingleton<CallConferences>();
        services.AddSingleton<CallPresence>();
        services.AddSingleton<CallControls>();
        services.AddSingleton<VoiceUrls>();
        services.AddSingleton<EmergencyTwiml>();
        services.AddSingleton<VoiceFlow>();
        services.AddSingleton<DatabaseOutageFilter>();
        services.AddVoicemailAndCallbacks();
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
            .ValidateTwilioRequest()
            .AddEndpointFilter<DatabaseOutageFilter>();

        var firstAnswer = endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<VoiceOptions>>().Value.DatabaseBudget;
        voice.MapPost("/incoming", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.IncomingAsync))
            .WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency), new VoiceBudget(firstAnswer), Replay((flow, request) => flow.IncomingAsync(request)));
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
        // The call's conference (VoiceFlow.Conference.cs).
        voice.MapPost("/join-conference", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.JoinConferenceAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/after-conference", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.AfterConferenceAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/staff-left", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StaffLeftAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Acknowledge),
                Replay((flow, request) => flow.StaffLeftAsync(request)));
        voice.MapPost("/conference-status", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            RunConference(http, flows, flow.ConferenceStatusAsync))
            // Ending a conference left to the worker alone calls Twilio's REST API: a longer budget.
            .WithMetadata(new VoiceBudget(TimeSpan.FromSeconds(5)), Replay((flow, request) => flow.ConferenceStatusAsync(request)));
        // No database: a held worker hears their hold messages whatever PostgreSQL does.
        voice.MapPost("/hold-music", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            RunConference(http, flows, request => Task.FromResult(flow.HoldMusic(request))));
        voice.MapPost("/leg-status", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.LegStatusAsync)).WithMetadata(Replay((flow, request) => flow.LegStatusAsync(request)));

        voice.MapPost("/recorded", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.RecordedAsync))
            // Kept because the database failed it: the caller heard goodbye, the voicemail is stored as on the emergency path.
            .WithMetadata(new OnDatabaseOutage(OutageAnswer.Goodbye), Replay((flow, request) => flow.ReplayEmergencyVoicemailAsync(request)));
        voice.MapPost("/recording", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.RecordingAsync)).WithMetadata(Replay((flow, request) => flow.RecordingAsync(request)));
        voice.MapPost("/status", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusAsync)).WithMetadata(Replay((flow, request) => flow.StatusAsync(request)));

        voice.MapPost("/status/case", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusCaseNumberAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/status/pin", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, flow.StatusPinAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));

        voice.MapPost("/emergency/screen", (HttpContext http, VoiceFlow flow, IvrFlowProvider flows) =>
            Run(http, flows, request => Task.FromResult(flow.EmergencyScreen(request))));
        voice.MapPost("/emergency/screen-result", (HttpContext http, IvrFlowProvider flows) =>
            Run(http, flows, request => Task.FromResult(VoiceFlow.EmergencyScreenResult(request))));
        voice.MapPost("/emergency/dial-result", (HttpContext http, VoiceFlow flow, WebhookSpool spool, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.EmergencyDialResultAsync(request, spool)))
            .WithMetadata(Replay((flow, request) => flow.ReplayEmergencyDialResultAsync(request)));
        voice.MapPost("/emergency/recorded", (HttpContext http, VoiceFlow flow, WebhookSpool spool, IvrFlowProvider flows) =>
            Run(http, flows, request => flow.EmergencyRecordedAsync(request, spool)))
            .WithMetadata(Replay((flow, request) => flow.ReplayEmergencyVoicemailAsync(request)));

        // "Call back" from the console (CallingBack.cs): each call's TwiML and status callback. The
        // status callbacks are replayed from the spool like the call's own: a lost "completed" would
        // leave the attempt open, and the callback could not be tried again.
        voice.MapPost("/callback/staff", (HttpContext http, CallingBack calling, IvrFlowProvider flows) =>
            Run(http, flows, calling.StaffAnsweredAsync))
            // Answering it calls the worker through Twilio's REST API: a longer budget, like the queue's wait URL.
            .WithMetadata(new VoiceBudget(TimeSpan.FromSeconds(5)));
        voice.MapPost("/callback/worker", (HttpContext http, CallingBack calling, IvrFlowProvider flows) =>
            Run(http, flows, calling.WorkerAnsweredAsync)).WithMetadata(new OnDatabaseOutage(OutageAnswer.Emergency));
        voice.MapPost("/callback/staff-status", (HttpContext http, CallingBack calling, IvrFlowProvider flows) =>
            Run(http, flows, calling.StaffStatusAsync)).WithMetadata(Replay<CallingBack>((calling, request) => calling.StaffStatusAsync(request)));
        voice.MapPost("/callback/worker-status", (HttpContext http, CallingBack calling, IvrFlowProvider flows) =>
            Run(http, flows, calling.WorkerStatusAsync)).WithMetadata(Replay<CallingBack>((calling, request) => calling.WorkerStatusAsync(request)));
        return endpoints;
    }

    /// <summary>
    /// How a webhook of this endpoint that the spool kept is stored once the database is back (the
    /// answer is not used: the call has moved on). Endpoints without it are menu steps, with nothing
    /// durable to store.
    /// </summary>
    private static ReplayFromSpool Replay(Func<VoiceFlow, VoiceRequest, Task> replay) => Replay<VoiceFlow>(replay);

    private static ReplayFromSpool Replay<THandler>(Func<THandler, VoiceRequest, Task> replay) where THandler : notnull => new(async http =>
    {
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var flows = http.RequestServices.GetRequiredService<IvrFlowProvider>();
        await replay(http.RequestServices.GetRequiredService<THandler>(), new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    });

    /// <summary>A conference's callbacks and wait or hold URLs: a form, not always with a CallSid (conference-start and -end have none).</summary>
    private static async Task<IResult> RunConference(HttpContext http, IvrFlowProvider flows, Func<VoiceRequest, Task<IResult>> handler)
    {
        if (!http.Request.HasFormContentType)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Twilio posts a form here.");
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        return await handler(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }

    private static async Task<IResult> Run(HttpContext http, IvrFlowProvider flows, Func<VoiceRequest, Task<IResult>> handler)
    {
        // Twilio posts every voice webhook as a form with the call's CallSid (a signed JSON or empty body
        // is not one); the signature filter has read (and cached) the form already.
        if (!http.Request.HasFormContentType)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Twilio posts a form with a CallSid here.");
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        if (string.IsNullOrEmpty(form["CallSid"]))
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "CallSid is required.");
        }
        return await handler(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }
}
