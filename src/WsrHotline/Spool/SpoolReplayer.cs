using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using WsrHotline.Database;

namespace WsrHotline.Spool;

/// <summary>
/// Endpoint metadata: how a webhook of this endpoint, kept in the spool, is stored once the database
/// is back. It gets the request as it was (path, route values, query, form), with the
/// request's services; it throws to say it failed. An endpoint without it has nothing durable to store
/// (a menu step: the call has moved on), and its kept webhooks are dropped.
/// </summary>
public sealed record ReplayFromSpool(Func<HttpContext, Task> ReplayAsync);

public static class SpoolReplay
{
    /// <summary>
    /// The request is a kept webhook being stored by the replayer (set only there, in-process): an
    /// endpoint lets a database failure propagate instead of keeping the webhook in the spool again.
    /// </summary>
    public static bool IsSpoolReplay(this HttpContext http) => http.Features.Get<Replaying>() is not null;

    /// <summary>
    /// For a kept webhook being replayed: when it first reached this instance, and until when what it
    /// stores should wait (<see cref="SpoolOptions.ReplaySettle"/>); null for a live request.
    /// </summary>
    public static (DateTimeOffset ReceivedAt, DateTimeOffset HeldUntil)? Spooled(this HttpContext http) =>
        http.Features.Get<Replaying>() is { } replaying ? (replaying.ReceivedAt, replaying.HeldUntil) : null;

    internal sealed record Replaying(DateTimeOffset ReceivedAt, DateTimeOffset HeldUntil);
}

/// <summary>
/// Stores what the spool kept, oldest first, one at a time, through the endpoint the webhook was
/// addressed to (found in the app's own route table, as a live request is). Endpoints' replays are
/// idempotent (by CallSid, by MessageSid), so a replay after a partial success changes nothing.
/// A database outage stops the round at that file (the next round tries it again); any other
/// failure means the file can never be stored: it is set aside and replay goes on.
/// </summary>
public sealed partial class SpoolReplayer(
    WebhookSpool spool,
    StartupState startup,
    IServiceProvider services,
    EndpointDataSource endpoints,
    IOptions<SpoolOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<SpoolReplayer> logger) : BackgroundService
{
    /// <summary>One round at a time: the spool is replayed in order, never by two loops at once.</summary>
    private readonly SemaphoreSlim round = new(1, 1);
    private IReadOnlyList<(RouteEndpoint Endpoint, TemplateMatcher Matcher)>? routes;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (configuration["Voice:SpoolPath"] is { Length: > 0 } && configuration["Spool:Path"] is null)
        {
            LogRenamedSetting(logger);
        }
        using var timer = new PeriodicTimer(options.Value.ReplayInterval);
        do
        {
            if (!startup.Migrated)
            {
                continue;
            }
            try
            {
                await ReplayPendingAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The folder itself failed (a full or read-only disk): said loudly, tried again next round.
                LogRoundFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>
    /// Replays every kept webhook, also those kept while it runs, until the spool is empty or the
    /// database fails; returns how many were stored.
    /// </summary>
    public async Task<int> ReplayPendingAsync(CancellationToken cancellationToken)
    {
        var replayed = 0;
        await round.WaitAsync(cancellationToken);
        try
        {
            for (var files = spool.Pending(); files.Count > 0; files = spool.Pending())
            {
                foreach (var file in files)
                {
                    switch (await ReplayFileAsync(file, cancellationToken))
                    {
                        case Outcome.DatabaseDown:
                            return replayed;
                        case Outcome.Stored:
                            replayed++;
                            break;
                    }
                }
            }
            return replayed;
        }
        finally
        {
            round.Release();
            if (replayed > 0)
            {
                LogReplayed(logger, replayed);
            }
        }
    }

    private enum Outcome
    {
        /// <summary>Stored (or nothing durable to store): the file is gone.</summary>
        Stored,

        /// <summary>It can never be stored: moved beside the spool.</summary>
        SetAside,

        /// <summary>The file went meanwhile (an operator moved it).</summary>
        Gone,

        /// <summary>The database is down: stop here, the file stays for the next round.</summary>
        DatabaseDown,
    }

    private async Task<Outcome> ReplayFileAsync(string file, CancellationToken cancellationToken)
    {
        try
        {
            await ReplayAsync(spool.Read(file), cancellationToken);
            spool.Remove(file);
            return Outcome.Stored;
        }
        catch (FileNotFoundException)
        {
            // Gone meanwhile (an operator moved it): nothing to do.
            return Outcome.Gone;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
            && (DatabaseFailures.IsOutage(ex) || ex is OperationCanceledException))
        {
            LogStillDown(logger, DatabaseFailures.Describe(ex));
            return Outcome.DatabaseDown;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Data the database refuses (a NUL byte, a value too long), a file that does not decrypt or
            // parse, a path no endpoint answers: trying again would only hold up every file after it.
            spool.SetAside(file);
            LogSetAside(logger, Path.GetFileName(file), DatabaseFailures.Describe(ex));
            return Outcome.SetAside;
        }
    }

    private async Task ReplayAsync(SpooledWebhook webhook, CancellationToken cancellationToken)
    {
        var http = new DefaultHttpContext { RequestServices = services, RequestAborted = cancellationToken };
        http.Request.Method = HttpMethods.Post;
        http.Request.Path = webhook.Path;
        http.Request.QueryString = new QueryString(webhook.Query);
        var form = new FormCollection(webhook.Fields.ToDictionary(field => field.Key, field => new StringValues(field.Value)));
        http.Features.Set<IFormFeature>(new FormFeature(form));
        http.Features.Set(new SpoolReplay.Replaying(webhook.ReceivedAt, time.GetUtcNow() + options.Value.ReplaySettle));

        var values = new RouteValueDictionary();
        var endpoint = Route(http.Request.Path, values)
            ?? throw new InvalidDataException("No endpoint answers the kept webhook's path.");
        http.Request.RouteValues = values;
        http.SetEndpoint(endpoint);
        if (endpoint.Metadata.GetMetadata<ReplayFromSpool>() is { } replay)
        {
            await replay.ReplayAsync(http);
        }
    }

    /// <summary>The POST endpoint of the app's route table that the path reaches, most specific first, as routing chooses.</summary>
    private RouteEndpoint? Route(PathString path, RouteValueDictionary values)
    {
        routes ??= [.. endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is not { } methods
                || methods.HttpMethods.Contains(HttpMethods.Post, StringComparer.OrdinalIgnoreCase))
            .Select(endpoint => (Endpoint: endpoint, Template: new RouteTemplate(endpoint.RoutePattern)))
            .OrderBy(route => route.Endpoint.Order)
            .ThenBy(route => RoutePrecedence.ComputeInbound(route.Template))
            .Select(route => (route.Endpoint, new TemplateMatcher(route.Template, new RouteValueDictionary(route.Endpoint.RoutePattern.Defaults))))];
        foreach (var (endpoint, matcher) in routes)
        {
            values.Clear();
            if (matcher.TryMatch(path, values))
            {
                return endpoint;
            }
        }
        return null;
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Stored {Count} webhook(s) kept during a database outage")]
    private static partial void LogReplayed(ILogger logger, int count);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Database still unavailable for the outage spool ({Error}); retrying")]
    private static partial void LogStillDown(ILogger logger, string error);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "Spool file {File} can never be stored ({Error}); set aside, still encrypted, beside the spool")]
    private static partial void LogSetAside(ILogger logger, string file, string error);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "Voice:SpoolPath is now Spool:Path (voice and texts share the spool); rename the setting")]
    private static partial void LogRenamedSetting(ILogger logger);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Error, Message = "The outage spool could not be read or written; trying again next round")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);
}
