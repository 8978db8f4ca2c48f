using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Ivr;
using WsrHotline.Spool;
using WsrHotline.Twilio;
using Twilio.TwiML;

namespace WsrHotline.Voice;

/// <summary>What a voice endpoint answers when the database fails it.</summary>
public enum OutageAnswer
{
    /// <summary>A status or recording callback: kept in the spool, acknowledged.</summary>
    Acknowledge,

    /// <summary>A TwiML step: the emergency ring-through, then voicemail.</summary>
    Emergency,

    /// <summary>The queue's wait URL, which cannot dial: leave the queue (its action then rings through).</summary>
    LeaveQueue,

    /// <summary>The voicemail is recorded (and now kept): promise the callback and say goodbye.</summary>
    Goodbye,
}

/// <summary>Endpoint metadata: what this endpoint answers when the database fails it.</summary>
public sealed record OnDatabaseOutage(OutageAnswer Answer);

/// <summary>An endpoint's database budget when it differs from <see cref="VoiceOptions.StepDatabaseBudget"/>.</summary>
public sealed record VoiceBudget(TimeSpan Budget);

/// <summary>
/// Gives each voice webhook a time budget for the database and, when PostgreSQL is down or too slow,
/// answers safely instead of with a 5xx: the request is kept in the spool (nothing is lost) and the
/// caller is rung through to the emergency numbers.
/// </summary>
public sealed partial class DatabaseOutageFilter(
    IOptions<VoiceOptions> options,
    WebhookSpool spool,
    EmergencyTwiml emergency,
    IvrFlowProvider flows,
    VoiceUrls urls,
    Database.DatabaseOutages outages,
    ILogger<DatabaseOutageFilter> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var metadata = http.GetEndpoint()?.Metadata;
        var budget = metadata?.GetMetadata<VoiceBudget>()?.Budget ?? options.Value.StepDatabaseBudget;
        var clientAborted = http.RequestAborted;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        timeout.CancelAfter(budget);
        http.RequestAborted = timeout.Token;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var answer = await next(context);
            // The budget is for the database: writing the answer it allowed must not be cut short by it.
            http.RequestAborted = clientAborted;
            return answer;
        }
        catch (Exception ex) when ((DatabaseFailures.IsDatabaseFailure(ex) || ex is OperationCanceledException) && !clientAborted.IsCancellationRequested)
        {
            if (ex is PostgresException { IsTransient: false } rejected)
            {
                // PostgreSQL answered and refused: a bug, not an outage. The caller is still helped.
                LogRejected(logger, http.Request.Path.Value ?? "", rejected.SqlState, ex);
            }
            else
            {
                outages.ReportDown();
                LogOutage(logger, http.Request.Path.Value ?? "", ex.GetType().Name,
                    (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, ex);
            }
            http.RequestAborted = clientAborted;
            await spool.KeepAsync(http.Request, await http.Request.ReadFormAsync(CancellationToken.None));
            var request = http.Request;
            var audioBase = urls.AudioBase(request);
            return (metadata?.GetMetadata<OnDatabaseOutage>()?.Answer ?? OutageAnswer.Acknowledge) switch
            {
                OutageAnswer.Emergency => new TwiMLResult(emergency.Start(flows.Current, path => urls.ForTwiml(request, path), audioBase)),
                OutageAnswer.LeaveQueue => new TwiMLResult(new VoiceResponse().Leave()),
                OutageAnswer.Goodbye => new TwiMLResult(EmergencyTwiml.Goodbye(flows.Current, audioBase)),
                _ => Results.Ok(),
            };
        }
    }

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error,
        Message = "Voice webhook {Path} failed in the database (SQLSTATE {SqlState}): kept in the spool, caller routed the emergency way")]
    private static partial void LogRejected(ILogger logger, string path, string sqlState, Exception exception);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error,
        Message = "Database unavailable for voice webhook {Path} ({Error} after {ElapsedMs} ms): kept in the spool, caller routed the emergency way")]
    private static partial void LogOutage(ILogger logger, string path, string error, long elapsedMs, Exception exception);
}
