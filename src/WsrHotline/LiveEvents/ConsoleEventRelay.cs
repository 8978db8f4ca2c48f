using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using Microsoft.AspNetCore.SignalR;
using Npgsql;
using WsrHotline.LiveConsole;

namespace WsrHotline.LiveEvents;

/// <summary>This app instance, as the console tables name it.</summary>
public sealed class ConsoleInstance
{
    /// <summary>A connection whose instance has not refreshed it for this long belongs to a dead instance.</summary>
    public static readonly TimeSpan ConnectionFreshness = TimeSpan.FromSeconds(60);

    public string Id { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
}

/// <summary>
/// Forwards live events to this instance's SignalR connections. A dedicated connection LISTENs on
/// <c>console_events</c>; each NOTIFY carries a row id; the rows are read in small batches and sent to
/// their audience group. After a lost connection it forwards what was written meanwhile, so nothing
/// committed is skipped. Also refreshes this instance's console connections and clears dead ones.
/// </summary>
public sealed partial class ConsoleEventRelay(
    NpgsqlDataSource dataSource, IHubContext<ConsoleHub, IConsoleClient> hub, ConsoleInstance instance,
    ConsoleConnections connections, ILogger<ConsoleEventRelay> logger) : BackgroundService
{
    private static readonly TimeSpan HeartbeatEvery = TimeSpan.FromSeconds(20);

    private readonly Channel<long> _notified = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private long _forwardedUpTo = -1;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var forwarding = ForwardAsync(stoppingToken);
        var heartbeat = HeartbeatAsync(stoppingToken);
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogListenLost(logger, exception.GetType().Name, delay.TotalSeconds);
                await Task.Delay(delay, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 30));
            }
        }
        _notified.Writer.TryComplete();
        await forwarding.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await heartbeat.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        connection.Notification += (_, args) =>
        {
            if (long.TryParse(args.Payload, System.Globalization.CultureInfo.InvariantCulture, out var id))
            {
                _notified.Writer.TryWrite(id);
            }
        };
        await connection.ExecuteAsync("LISTEN console_events");
        var latest = await connection.ExecuteScalarAsync<long>("SELECT coalesce(max(id), 0) FROM console_events");
        var since = Interlocked.Read(ref _forwardedUpTo);
        if (since < 0)
        {
            // First start: consoles that were connected elsewhere catch up themselves.
            Interlocked.CompareExchange(ref _forwardedUpTo, latest, since);
        }
        else if (latest > since)
        {
            // Back after a lost connection: forward what was committed meanwhile.
            var missed = await connection.QueryAsync<long>("SELECT id FROM console_events WHERE id > @since ORDER BY id LIMIT 10000", new { since });
            foreach (var id in missed)
            {
                _notified.Writer.TryWrite(id);
            }
        }
        LogListening(logger, instance.Id);
        while (true)
        {
            await connection.WaitAsync(cancellationToken);
        }
    }

    private async Task ForwardAsync(CancellationToken cancellationToken)
    {
        var batch = new List<long>();
        // A connection of its own, held open: taken from the pool per batch, it waited behind busy
        // requests for a free connection, and when the pool stayed exhausted past its timeout the
        // events were not forwarded at all (the consoles saw them only after a reconnect).
        NpgsqlConnection? connection = null;
        try
        {
            while (await _notified.Reader.WaitToReadAsync(cancellationToken))
            {
                batch.Clear();
                while (batch.Count < 500 && _notified.Reader.TryRead(out var id))
                {
                    batch.Add(id);
                }
                try
                {
                    if (connection is not { State: System.Data.ConnectionState.Open })
                    {
                        if (connection is not null)
                        {
                            await connection.DisposeAsync();
                        }
                        connection = null;
                        connection = await dataSource.OpenConnectionAsync(cancellationToken);
                    }
                    await ForwardBatchAsync(connection, batch, cancellationToken);
                }
                catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
                {
                    // The consoles catch up from the table when they reconnect; keep going with the next batch.
                    LogForwardFailed(logger, batch.Count, exception.GetType().Name);
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private async Task ForwardBatchAsync(NpgsqlConnection connection, List<long> ids, CancellationToken cancellationToken)
    {
        // The case's restriction as it is now: a case restricted since the event was written is held back too.
        var rows = await connection.QueryAsync<(long Id, string Kind, string Audience, long? ComplaintId, string Payload, DateTime CreatedAt, string? RestrictedTeam)>(
            new CommandDefinition($"""
                SELECT e.id, e.kind, e.audience, e.complaint_id, e.payload::text, e.created_at, k.restricted_team
                FROM console_events e LEFT JOIN complaints k ON k.id = {ConsoleEvents.CaseOf}
                WHERE e.id = ANY(@ids) ORDER BY e.id
                """, new { ids = ids.ToArray() }, cancellationToken: cancellationToken));
        foreach (var row in rows)
        {
            var e = ToEvent(row.Id, row.Kind, row.ComplaintId, row.Payload, row.CreatedAt);
            if (row.RestrictedTeam is { } team)
            {
                // Only the audience's connections whose staff member may open the case.
                var allowed = connections.InAudience(row.Audience, user => CaseAccess.CanOpen(user, team));
                if (allowed.Count > 0)
                {
                    await Send(hub.Clients.Clients(allowed), e);
                }
            }
            else
            {
                await Send(hub.Clients.Group(row.Audience), e);
            }
            InterlockedMax(ref _forwardedUpTo, row.Id);
        }
    }

    public static ConsoleEvent ToEvent(long id, string kind, long? complaintId, string payload, DateTime createdAt)
    {
        using var document = JsonDocument.Parse(payload);
        return new ConsoleEvent(id, kind, complaintId, document.RootElement.Clone(),
            new DateTimeOffset(DateTime.SpecifyKind(createdAt, DateTimeKind.Utc)));
    }

    private static Task Send(IConsoleClient client, ConsoleEvent e) => e.Kind switch
    {
        ConsoleEventKinds.CallOffered => client.CallOffered(e),
        ConsoleEventKinds.CallTaken => client.CallTaken(e),
        ConsoleEventKinds.CallAnswered => client.CallAnswered(e),
        ConsoleEventKinds.CallMissed => client.CallMissed(e),
        ConsoleEventKinds.MessageReceived => client.MessageReceived(e),
        ConsoleEventKinds.MessageStatus => client.MessageStatus(e),
        ConsoleEventKinds.ComplaintChanged => client.ComplaintChanged(e),
        ConsoleEventKinds.ClockWarning => client.ClockWarning(e),
        ConsoleEventKinds.Presence => client.PresenceChanged(e),
        ConsoleEventKinds.Dashboard => client.DashboardChanged(e),
        _ => client.Other(e),
    };

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(HeartbeatEvery);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE console_connections SET last_seen_at = now() WHERE instance_id = @instanceId;
                    DELETE FROM console_connections WHERE last_seen_at < now() - @stale;
                    """, new { instanceId = instance.Id, stale = ConsoleInstance.ConnectionFreshness * 2 }, cancellationToken: cancellationToken));
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
            {
                LogHeartbeatFailed(logger, exception.GetType().Name);
            }
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Console events: instance {InstanceId} listening")]
    private static partial void LogListening(ILogger logger, string instanceId);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Warning, Message = "Console events: the LISTEN connection was lost ({Error}); again in {Seconds} s")]
    private static partial void LogListenLost(ILogger logger, string error, double seconds);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Console events: {Count} events not forwarded ({Error}); consoles catch up on reconnect")]
    private static partial void LogForwardFailed(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 8004, Level = LogLevel.Warning, Message = "Console connections heartbeat failed ({Error})")]
    private static partial void LogHeartbeatFailed(ILogger logger, string error);
}
