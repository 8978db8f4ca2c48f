using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

public static partial class MessagingEndpoints
{
    public const string Prefix = "/twilio/messaging";

    public static IServiceCollection AddMessagingIntake(this IServiceCollection services)
    {
        services.AddOptions<MessagingOptions>()
            .BindConfiguration("Messaging")
            .Validate(o => o.SendInterval > TimeSpan.Zero && o.SendLease > TimeSpan.Zero && o.SendRetryBaseDelay >= TimeSpan.Zero,
                "Messaging:SendInterval and Messaging:SendLease must be positive, Messaging:SendRetryBaseDelay not negative (e.g. 00:00:01, 00:02:00, 00:00:30).")
            .Validate(o => o.SendBatchSize is >= 1 and <= 500 && o.SendMaxAttempts >= 1,
                "Messaging:SendBatchSize must be 1-500 and Messaging:SendMaxAttempts at least 1.")
            .ValidateOnStart();
        services.AddSingleton<MessagingIntake>();
        services.AddSingleton<OutboundSender>();
        services.AddHostedService<OutboundSenderService>();
        return services;
    }

    /// <summary>
    /// The Twilio messaging webhooks: <c>/incoming</c> is the SMS number's and the WhatsApp sender's
    /// "A message comes in" URL, <c>/status</c> the StatusCallback of every reply. Both require Twilio's
    /// signature and answer empty TwiML: replies go out through the queue, never in the answer.
    /// </summary>
    public static IEndpointRouteBuilder MapMessagingIntake(this IEndpointRouteBuilder endpoints)
    {
        var messaging = endpoints.MapGroup(Prefix).RequireTwilioSignature();
        messaging.MapPost("/incoming", IncomingAsync);
        messaging.MapPost("/status", StatusAsync);
        return endpoints;
    }

    private static async Task<IResult> IncomingAsync(
        HttpContext http, MessagingIntake intake, NpgsqlDataSource dataSource, StartupState startup, IOptions<HotlineOptions> hotline,
        ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(MessagingEndpoints).FullName!);
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var sid = form["MessageSid"].ToString();
        var from = form["From"].ToString();
        if (sid.Length == 0 || from.Length == 0)
        {
            LogMissingFields(logger, sid.Length > 0, from.Length > 0);
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "MessageSid and From are required.");
        }

        var to = form["To"].ToString();
        string? channel = string.Equals(to, hotline.Value.SmsNumber, StringComparison.Ordinal) ? Channels.Sms
            : string.Equals(to, hotline.Value.WhatsAppSender, StringComparison.OrdinalIgnoreCase) ? Channels.WhatsApp
            : null;
        if (channel is null)
        {
            // Not our number: a misconfigured webhook. Nothing stored; the address is not logged.
            LogUnknownTo(logger, sid);
            return Empty();
        }
        if (CallerNumber.Normalize(from) is not { } sender)
        {
            LogWithheldSender(logger, sid, channel);
            return Empty();
        }

        if (!startup.Migrated)
        {
            // Until the start-up step has migrated and synced the languages, a complaint cannot be stored.
            LogDatabaseUnavailable(logger, sid, "not migrated yet");
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The hotline is starting.");
        }
        var numMedia = int.TryParse(form["NumMedia"], NumberStyles.None, CultureInfo.InvariantCulture, out var media) ? media : 0;
        try
        {
            var outcome = await intake.ReceiveAsync(dataSource, new InboundMessage(sid, channel, sender, form["Body"].ToString(), numMedia), http.RequestAborted);
            LogReceived(logger, sid, channel, outcome);
            return Empty();
        }
        catch (Exception ex) when (IsOutage(ex))
        {
            // Nothing was committed: a 503 makes Twilio try the fallback URL or report the failure,
            // and a redelivery of the same MessageSid is handled as new.
            LogDatabaseUnavailable(logger, sid, (ex as PostgresException)?.SqlState ?? ex.GetType().Name);
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The hotline's database is unavailable.");
        }
    }

    private static async Task<IResult> StatusAsync(HttpContext http, NpgsqlDataSource dataSource, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(MessagingEndpoints).FullName!);
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var sid = form["MessageSid"].ToString();
        var status = form["MessageStatus"].ToString();
        if (sid.Length == 0 || status.Length == 0)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "MessageSid and MessageStatus are required.");
        }
        int? errorCode = int.TryParse(form["ErrorCode"], NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : null;
        try
        {
            var applied = await DeliveryStatus.ApplyAsync(dataSource, sid, status, errorCode, http.RequestAborted);
            LogDelivery(logger, sid, status, errorCode, applied);
            return Empty();
        }
        catch (Exception ex) when (IsOutage(ex))
        {
            LogDatabaseUnavailable(logger, sid, (ex as PostgresException)?.SqlState ?? ex.GetType().Name);
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The hotline's database is unavailable.");
        }
    }

    private static TwimlResult Empty() => new(new MessagingResponse());

    /// <summary>The database is unreachable or refused for a passing reason (not a bug in our SQL, which must surface as a 500).</summary>
    private static bool IsOutage(Exception ex) => ex is NpgsqlException { IsTransient: true } or TimeoutException;

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Message {MessageSid} on {Channel}: {Outcome}")]
    private static partial void LogReceived(ILogger logger, string messageSid, string channel, IntakeOutcome outcome);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Message webhook without MessageSid or From (MessageSid given: {HasSid}, From given: {HasFrom}); refused")]
    private static partial void LogMissingFields(ILogger logger, bool hasSid, bool hasFrom);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Message {MessageSid} was sent to a number that is neither Hotline:SmsNumber nor Hotline:WhatsAppSender; nothing stored (check the number's webhook)")]
    private static partial void LogUnknownTo(ILogger logger, string messageSid);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Message {MessageSid} on {Channel} has a withheld or invalid sender; nothing stored")]
    private static partial void LogWithheldSender(ILogger logger, string messageSid, string channel);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "Message {MessageSid}: database unavailable ({Error}); answered 503, nothing stored")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string messageSid, string error);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Delivery report for {MessageSid}: {Status} (error {ErrorCode}); applied: {Applied}")]
    private static partial void LogDelivery(ILogger logger, string messageSid, string status, int? errorCode, bool applied);
}
