using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Health;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Jobs;
using WsrHotline.Spool;
using WsrHotline.Twilio;
using Twilio.TwiML;

namespace WsrHotline.Messaging;

public static partial class MessagingEndpoints
{
    public const string Prefix = "/twilio/messaging";

    /// <summary>Twilio sends at most 10 attachments with a message.</summary>
    public const int MaxMediaPerMessage = 10;

    /// <summary>The largest attachment the hotline may be configured to keep (it is held in memory and in one bytea value).</summary>
    private const long MaxMediaBytes = 100L * 1024 * 1024;

    public static IServiceCollection AddMessagingIntake(this IServiceCollection services)
    {
        services.AddOptions<MessagingOptions>()
            .BindConfiguration("Messaging")
            .Validate(o => o.SendMaxAttempts is >= 1 and <= 20 && o.SendRetryBaseDelay >= TimeSpan.Zero,
                "Messaging:SendMaxAttempts must be 1-20 and Messaging:SendRetryBaseDelay not negative (e.g. 00:00:30).")
            .Validate(o => o.MediaMaxAttempts is >= 1 and <= 20 && o.MediaRetryBaseDelay >= TimeSpan.Zero,
                "Messaging:MediaMaxAttempts must be 1-20 and Messaging:MediaRetryBaseDelay not negative (e.g. 00:00:30).")
            .Validate(o => o.MediaMaxBytes is >= 1024 and <= MaxMediaBytes,
                $"Messaging:MediaMaxBytes must be from 1024 to {MaxMediaBytes} bytes (the default, 16777216, is WhatsApp's own limit).")
            .Validate(o => o.MediaAllowedTypes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .All(type => type.Contains('/', StringComparison.Ordinal) && !type.Contains('*', StringComparison.Ordinal)),
                "Messaging:MediaAllowedTypes must be a comma-separated list of media types such as image/jpeg,application/pdf,audio/ogg (no wildcards).")
            .Validate(o => o.InboxWorkers is >= 1 and <= 64 && o.InboxMaxAttempts >= 1,
                "Messaging:InboxWorkers must be 1-64 and Messaging:InboxMaxAttempts at least 1.")
            .Validate(o => o.InboxPollInterval > TimeSpan.Zero && o.InboxRetryBaseDelay >= TimeSpan.Zero,
                "Messaging:InboxPollInterval must be positive and Messaging:InboxRetryBaseDelay not negative (e.g. 00:00:01, 00:00:10).")
            .Validate(o => o.WebhookDatabaseBudget > TimeSpan.Zero,
                "Messaging:WebhookDatabaseBudget must be positive (e.g. 00:00:10: well under Twilio's 15 s webhook timeout).")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<MessagingOptions>, WhatsAppTemplatesValidation>();
        services.AddSingleton<MessagingIntake>();
        services.AddSingleton<Inbox>();
        services.AddSingleton<InboxProcessor>();
        services.AddHostedService<InboxProcessorService>();
        services.AddHealthChecks().AddCheck<InboxHealthCheck>("messaging_inbox", tags: [HealthExtensions.ReadyTag]);
        services.AddSingleton<OutboundSender>();
        services.AddJobRetry<OutboundSender>(provider =>
        {
            var o = provider.GetRequiredService<IOptions<MessagingOptions>>().Value;
            return JobRetries.Exponential(o.SendMaxAttempts, o.SendRetryBaseDelay);
        });
        services.AddHostedService<WhatsAppTemplatesWarning>();
        services.AddSingleton<MediaFetcher>();
        // The safety net of the jobs enqueued after a commit: a reply or an attachment download whose
        // enqueue was lost, or whose job died and was not retried, gets a job again.
        services.AddRecurringJob(RecurringJobs.ForgottenWorkId, _ => RecurringJobs.ForgottenWorkInterval, async (p, ct) =>
        {
            await p.GetRequiredService<OutboundSender>().EnqueueForgottenAsync(ct);
            await p.GetRequiredService<MediaFetcher>().EnqueueForgottenAsync(ct);
        });
        services.AddJobRetry<MediaFetcher>(provider =>
        {
            var o = provider.GetRequiredService<IOptions<MessagingOptions>>().Value;
            return JobRetries.Exponential(o.MediaMaxAttempts, o.MediaRetryBaseDelay);
        });
        services.AddSingleton<MediaStore>();
        return services;
    }

    /// <summary>
    /// The Twilio messaging webhooks: <c>/incoming</c> is the SMS number's and the WhatsApp sender's
    /// "A message comes in" URL, <c>/status</c> the StatusCallback of every reply. Both require Twilio's
    /// signature and answer empty TwiML: replies go out through the queue, never in the answer.
    /// </summary>
    public static IEndpointRouteBuilder MapMessagingIntake(this IEndpointRouteBuilder endpoints)
    {
        var messaging = endpoints.MapGroup(Prefix).ValidateTwilioRequest();
        messaging.MapPost("/incoming", IncomingAsync).WithMetadata(new ReplayFromSpool(http => IncomingAsync(
            http, Service<Inbox>(http), Service<WebhookSpool>(http), Service<StartupState>(http),
            Service<IOptions<HotlineOptions>>(http), Service<IOptions<MessagingOptions>>(http), Service<DatabaseOutages>(http),
            Service<ILoggerFactory>(http))));
        messaging.MapPost("/status", StatusAsync).WithMetadata(new ReplayFromSpool(http => StatusAsync(
            http, Service<NpgsqlDataSource>(http), Service<WebhookSpool>(http), Service<StartupState>(http),
            Service<IOptions<MessagingOptions>>(http), Service<ILoggerFactory>(http))));
        return endpoints;
    }

    private static T Service<T>(HttpContext http) where T : notnull => http.RequestServices.GetRequiredService<T>();

    /// <summary>
    /// Keeps the text in the inbox, or in the outage spool (answered 200 all the same, so Twilio does not
    /// give up on it) when the database is down or not migrated yet, and while texts wait in this
    /// instance's spool: a text that arrives as the database comes back goes after the ones kept during the outage,
    /// so a sender's texts keep their order. The spool replays it through this same code.
    /// </summary>
    private static async Task<IResult> IncomingAsync(
        HttpContext http, Inbox inbox, WebhookSpool spool, StartupState startup, IOptions<HotlineOptions> hotline,
        IOptions<MessagingOptions> options, DatabaseOutages outages, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(MessagingEndpoints).FullName!);
        if (NotAForm(http) is { } notAForm)
        {
            return notAForm;
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var sid = form["MessageSid"].ToString();
        var from = form["From"].ToString();
        if (sid.Length == 0 || from.Length == 0)
        {
            LogMissingFields(logger, sid.Length > 0, from.Length > 0);
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "MessageSid and From are required.");
        }

        var to = form["To"].ToString();
        var (channel, configured) = HotlineNumbers.Classify(to, hotline.Value);
        if (!configured)
        {
            // Signed by Twilio for this account, so one of its numbers: kept and flagged, never dropped (the number is not logged).
            LogUnknownTo(logger, sid, channel);
        }
        if (CallerNumber.Normalize(from) is not { } sender)
        {
            LogWithheldSender(logger, sid, channel);
            return Empty();
        }

        var replaying = http.IsSpoolReplay();
        if (!replaying && (!startup.Migrated || spool.WaitingTexts > 0))
        {
            // Not migrated yet (a complaint cannot be stored), or texts kept earlier wait in the spool: this one goes after them.
            await spool.KeepAsync(http.Request, form, isText: true);
            LogSpooled(logger, sid, startup.Migrated ? "the spool is draining" : "not migrated yet");
            return Empty();
        }
        var numMedia = int.TryParse(form["NumMedia"], NumberStyles.None, CultureInfo.InvariantCulture, out var count) ? count : 0;
        var media = Attachments(form, numMedia);
        if (media.Count < numMedia)
        {
            LogMediaMissing(logger, sid, numMedia, media.Count);
        }
        using var budget = Budget(http, options.Value, replaying);
        try
        {
            // Answered once the row is committed; the inbox processor does the rest (and queues the replies).
            var isNew = await inbox.KeepAsync(new InboundMessage(sid, channel, sender, form["Body"].ToString(), numMedia, media)
            {
                To = to.Length == 0 ? null : to,
                ToUnconfiguredNumber = !configured,
                // Replayed from the spool: in the sender's order as first received, processed once every instance's spool is in.
                Spooled = http.Spooled(),
            }, budget.Token);
            LogKept(logger, sid, channel, isNew);
            return Empty();
        }
        catch (Exception ex) when (!replaying && IsDatabaseFailure(ex, http))
        {
            // Kept on disk and answered 200 (Twilio does not retry a text answered 503). Should the row
            // have been committed after all (past the budget), the replay finds its MessageSid and changes nothing.
            // The outage also starts a reconciliation run once the database is back (Reconciliation/).
            outages.ReportDown();
            await spool.KeepAsync(http.Request, form, isText: true);
            LogDatabaseUnavailable(logger, sid, DatabaseFailures.Describe(ex));
            return Empty();
        }
    }

    /// <summary>A delivery report; kept in the spool like a text when the database fails (statuses only move up, so order does not matter).</summary>
    private static async Task<IResult> StatusAsync(
        HttpContext http, NpgsqlDataSource dataSource, WebhookSpool spool, StartupState startup, IOptions<MessagingOptions> options, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(MessagingEndpoints).FullName!);
        if (NotAForm(http) is { } notAForm)
        {
            return notAForm;
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var sid = form["MessageSid"].ToString();
        var status = form["MessageStatus"].ToString();
        if (sid.Length == 0 || status.Length == 0)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "MessageSid and MessageStatus are required.");
        }
        int? errorCode = int.TryParse(form["ErrorCode"], NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : null;
        var replaying = http.IsSpoolReplay();
        if (!replaying && !startup.Migrated)
        {
            await spool.KeepAsync(http.Request, form);
            LogSpooled(logger, sid, "not migrated yet");
            return Empty();
        }
        using var budget = Budget(http, options.Value, replaying);
        try
        {
            var applied = await DeliveryStatus.ApplyAsync(dataSource, sid, status, errorCode, budget.Token);
            LogDelivery(logger, sid, status, errorCode, applied);
            return Empty();
        }
        catch (Exception ex) when (!replaying && IsDatabaseFailure(ex, http))
        {
            await spool.KeepAsync(http.Request, form);
            LogDatabaseUnavailable(logger, sid, DatabaseFailures.Describe(ex));
            return Empty();
        }
    }

    /// <summary>The request's time for the database (a replay has no Twilio waiting, and waits as long as it takes).</summary>
    private static CancellationTokenSource Budget(HttpContext http, MessagingOptions options, bool replaying)
    {
        var budget = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        if (!replaying)
        {
            budget.CancelAfter(options.WebhookDatabaseBudget);
        }
        return budget;
    }

    /// <summary>The database failed, refused or took longer than the budget (not Twilio hanging up).</summary>
    private static bool IsDatabaseFailure(Exception ex, HttpContext http) =>
        (DatabaseFailures.IsDatabaseFailure(ex) || ex is OperationCanceledException) && !http.RequestAborted.IsCancellationRequested;

    private static TwiMLResult Empty() => new(new MessagingResponse());

    /// <summary>Twilio posts messaging webhooks as forms: a signed JSON or empty body is not one (400, not a 500 from reading it).</summary>
    private static IResult? NotAForm(HttpContext http) => http.Request.HasFormContentType
        ? null
        : Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Twilio posts a form here.");

    /// <summary>
    /// <c>MediaUrl{N}</c> and <c>MediaContentType{N}</c> for N below NumMedia (at most 10): the ones with
    /// an absolute http(s) URL. A missing or malformed one is left out (and logged, without the URL).
    /// </summary>
    private static List<InboundMedia> Attachments(IFormCollection form, int numMedia)
    {
        var media = new List<InboundMedia>();
        for (var n = 0; n < Math.Min(numMedia, MaxMediaPerMessage); n++)
        {
            var index = n.ToString(CultureInfo.InvariantCulture);
            if (Uri.TryCreate(form["MediaUrl" + index].ToString(), UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp))
            {
                media.Add(new InboundMedia(url.AbsoluteUri, form["MediaContentType" + index].ToString()));
            }
        }
        return media;
    }

    [LoggerMessage(EventId = 4031, Level = LogLevel.Debug, Message = "Message {MessageSid} on {Channel} kept in the inbox (new: {IsNew})")]
    private static partial void LogKept(ILogger logger, string messageSid, string channel, bool isNew);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Message webhook without MessageSid or From (MessageSid given: {HasSid}, From given: {HasFrom}); refused")]
    private static partial void LogMissingFields(ILogger logger, bool hasSid, bool hasFrom);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Message {MessageSid} on {Channel} was sent to a number that is none of Hotline:TollFreeNumber, SmsNumber, WhatsAppSender; kept, answered from that number and flagged for an admin (check the number's webhook or the settings)")]
    private static partial void LogUnknownTo(ILogger logger, string messageSid, string channel);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Message {MessageSid} on {Channel} has a withheld or invalid sender; nothing stored")]
    private static partial void LogWithheldSender(ILogger logger, string messageSid, string channel);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "Message webhook {MessageSid}: the database failed it ({Error}); kept in the outage spool, answered 200")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string messageSid, string error);

    [LoggerMessage(EventId = 4040, Level = LogLevel.Information, Message = "Message webhook {MessageSid} kept in the outage spool ({Reason}), answered 200")]
    private static partial void LogSpooled(ILogger logger, string messageSid, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Message {MessageSid} announced {NumMedia} attachment(s) but carried {Usable} usable MediaUrl(s); the others are not kept")]
    private static partial void LogMediaMissing(ILogger logger, string messageSid, int numMedia, int usable);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Delivery report for {MessageSid}: {Status} (error {ErrorCode}); applied: {Applied}")]
    private static partial void LogDelivery(ILogger logger, string messageSid, string status, int? errorCode, bool applied);
}
