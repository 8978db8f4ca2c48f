using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Jobs;

namespace WsrHotline.Messaging;

/// <summary>
/// Processes the inbox's rows with <see cref="MessagingIntake"/>: a row is claimed, and deleted in
/// the same transaction as everything its message causes, so each message is processed exactly once,
/// also after a crash (an uncommitted claim simply never happened). The inbox therefore holds only
/// unfinished and failed rows; a webhook retried after its first copy was processed finds the message
/// already in <c>messages</c> and changes nothing.
/// </summary>
/// <remarks>
/// <para><b>One sender at a time, in arrival order; senders in parallel; any number of instances.</b>
/// A worker claims, with <c>FOR UPDATE SKIP LOCKED</c>, the lowest unfinished rows whose senders have
/// no unfinished row received earlier (<c>received_at</c>, then id). So only a sender's oldest unfinished
/// message can be claimed, and while a worker holds it (locked, its processing not committed) every
/// other worker, here or on another instance, skips it and sees it as unfinished, so it takes none of
/// that sender's later messages. Two workers cannot claim one row: the second skips it while it is
/// locked, and finds it gone once the first has committed.</para>
/// <para>This relies on a sender's rows being received in commit order: a message must not commit as
/// received earlier after a later one was processed. <see cref="Inbox"/> ensures it for live webhooks
/// with a per-sender advisory lock taken before <c>received_at</c> is read from the clock. A text
/// replayed from an instance's outage spool keeps the time it first arrived, and waits
/// <c>Spool:ReplaySettle</c> before it is due, so that the texts every instance kept are in the inbox,
/// each in its place, before any is processed.</para>
/// <para><b>Failures.</b> A database outage (transient) leaves the row as it was: it is tried again
/// and counts no attempt. Any other failure rolls back to a savepoint after the claim (the row stays
/// locked) and counts an attempt in the same transaction; the row waits <c>InboxRetryBaseDelay × 2ⁿ</c> (the sender's later
/// messages wait behind it, to keep the order) and after <c>InboxMaxAttempts</c> it is marked failed,
/// so it can hold back its own sender only for a while and other senders never.</para>
/// </remarks>
public sealed partial class InboxProcessor(
    NpgsqlDataSource dataSource, Inbox inbox, MessagingIntake intake, IBackgroundJobClient jobs, IOptions<MessagingOptions> options,
    TimeProvider time, ILogger<InboxProcessor> logger)
{
    private sealed record Claimed(long Id, string MessageSid, string PayloadEncrypted, int Attempts);

    /// <summary>Due rows, each its sender's oldest unfinished one; locked, skipping those another worker holds.</summary>
    private const string DueRows = """
        SELECT i.id, i.message_sid, i.payload_encrypted, i.attempts FROM inbound_inbox i
        WHERE i.failed_at IS NULL
          AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= @now)
          AND NOT EXISTS (
              SELECT 1 FROM inbound_inbox earlier
              WHERE earlier.sender_key = i.sender_key AND (earlier.received_at, earlier.id) < (i.received_at, i.id) AND earlier.failed_at IS NULL)
        """;

    /// <summary>Processes the next due message, if any; false when there was none.</summary>
    public async Task<bool> ProcessNextAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The savepoint goes in the claim's round trip: a failed attempt rolls back to it and is
        // counted while the row is still locked, so no other worker tries it before its failure is recorded.
        var row = await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition($"""
            {DueRows}
            ORDER BY i.id LIMIT 1
            FOR UPDATE SKIP LOCKED;
            SAVEPOINT processing;
            """, new { now = time.GetUtcNow() }, transaction, cancellationToken: cancellationToken));
        if (row is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }
        string channel;
        Received received;
        try
        {
            var message = inbox.Read(row.MessageSid, row.PayloadEncrypted);
            channel = message.Channel;
            received = await intake.ReceiveAsync(connection, transaction, message, cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM inbound_inbox WHERE id = @Id", new { row.Id }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception ex) when (!IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            await CountFailureAsync(connection, transaction, row, ex.GetType().Name, cancellationToken);
            return true;
        }
        AfterCommit.Enqueue(logger, "message " + row.MessageSid, () =>
        {
            OutboundSender.Enqueue(jobs, received.Work.Replies);
            MediaFetcher.Enqueue(jobs, received.Work.Media);
        });
        LogProcessed(logger, row.MessageSid, channel, received.Outcome);
        return true;
    }

    /// <summary>The database is unreachable or refused for a passing reason: the row stays as it was, for later.</summary>
    public static bool IsTransient(Exception ex) => ex is NpgsqlException { IsTransient: true } or TimeoutException;

    /// <summary>Undoes the attempt (back to the savepoint) and counts it, with backoff or, at the last, as failed; then commits.</summary>
    private async Task CountFailureAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, string error, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var attempt = row.Attempts + 1;
        var giveUp = attempt >= settings.InboxMaxAttempts;
        var retryAt = time.GetUtcNow() + settings.InboxRetryBaseDelay * Math.Pow(2, Math.Min(row.Attempts, 20));
        await connection.ExecuteAsync(new CommandDefinition("""
            ROLLBACK TO SAVEPOINT processing;
            UPDATE inbound_inbox
            SET attempts = attempts + 1, last_error = @error,
                next_attempt_at = CASE WHEN @giveUp THEN next_attempt_at ELSE @retryAt END,
                failed_at = CASE WHEN @giveUp THEN now() END
            WHERE id = @Id
            """, new { row.Id, error, giveUp, retryAt }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        if (giveUp)
        {
            LogGivenUp(logger, row.MessageSid, attempt, error);
        }
        else
        {
            LogRetrying(logger, row.MessageSid, error, attempt, settings.InboxMaxAttempts, retryAt);
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Message {MessageSid} on {Channel}: {Outcome}")]
    private static partial void LogProcessed(ILogger logger, string messageSid, string channel, IntakeOutcome outcome);

    [LoggerMessage(EventId = 4032, Level = LogLevel.Warning, Message = "Message {MessageSid}: processing failed ({Error}), attempt {Attempt} of {MaxAttempts}; tried again at {RetryAt}")]
    private static partial void LogRetrying(ILogger logger, string messageSid, string error, int attempt, int maxAttempts, DateTimeOffset retryAt);

    [LoggerMessage(EventId = 4033, Level = LogLevel.Error, Message = "Message {MessageSid}: processing failed {Attempts} times ({Error}); given up, marked failed in inbound_inbox (the worker got no reply: see README, Operate it)")]
    private static partial void LogGivenUp(ILogger logger, string messageSid, int attempts, string error);
}

/// <summary>
/// Runs <c>Messaging:InboxWorkers</c> processing loops on this instance, once the database is migrated.
/// A loop that found nothing sleeps until this instance keeps a new message (<see cref="Inbox.NextArrival"/>)
/// or <c>Messaging:InboxPollInterval</c> passes (rows of another instance, or left by a restart).
/// </summary>
public sealed partial class InboxProcessorService(
    InboxProcessor processor, Inbox inbox, StartupState startup, IOptions<MessagingOptions> options, TimeProvider time,
    ILogger<InboxProcessorService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.InboxProcessorEnabled
            ? Task.WhenAll(Enumerable.Range(0, options.Value.InboxWorkers).Select(_ => Task.Run(() => RunAsync(stoppingToken), stoppingToken)))
            : Task.CompletedTask;

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.InboxPollInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before looking, so that a row kept while this loop looks is not missed.
            var arrival = inbox.NextArrival;
            try
            {
                if (startup.Migrated && await processor.ProcessNextAsync(stoppingToken))
                {
                    continue;
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && InboxProcessor.IsTransient(ex))
            {
                LogDatabaseUnavailable(logger, ex.GetType().Name);
                // An outage: wait the whole interval, whatever arrives meanwhile.
                arrival = Task.Delay(Timeout.Infinite, stoppingToken);
            }
            try
            {
                await arrival.WaitAsync(interval, time, stoppingToken);
            }
            catch (TimeoutException)
            {
                // Nothing arrived here: look anyway.
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 4034, Level = LogLevel.Warning, Message = "Inbox processor: database unavailable ({Error}); trying again")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string error);
}
