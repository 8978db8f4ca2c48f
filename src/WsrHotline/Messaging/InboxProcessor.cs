using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;

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
/// <para><b>Several senders per transaction.</b> A claim takes up to <c>Messaging:InboxBatch</c> rows
/// (each of a different sender, by the rule above) and processes them in one transaction: one claim
/// and one commit for all of them instead of one each. A busy inbox fills the batch; an idle one
/// processes a text as soon as it arrives, alone. A batch holding a STATUS text with a PIN goes one by
/// one instead (<see cref="MessagingIntake.CommitsOnItsOwn"/>).</para>
/// <para><b>Failures.</b> A database outage (transient) leaves the rows as they were: they are tried again
/// and count no attempt. Any other exception in a batch of several rolls the whole batch back, and its
/// rows are then processed one by one, so one message's fault does not become its neighbours'. Alone,
/// a message's failure rolls back to a savepoint after the claim (the row stays locked) and counts an
/// attempt in the same transaction; the row waits <c>InboxRetryBaseDelay × 2ⁿ</c> (the sender's later
/// messages wait behind it, to keep the order) and after <c>InboxMaxAttempts</c> it is marked failed,
/// so it can hold back its own sender only for a while and other senders never.</para>
/// </remarks>
public sealed partial class InboxProcessor(
    NpgsqlDataSource dataSource, Inbox inbox, MessagingIntake intake, IOptions<MessagingOptions> options, TimeProvider time,
    ILogger<InboxProcessor> logger)
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

    /// <summary>Processes the next due messages (up to <c>InboxBatch</c>, of as many senders), if any; false when there were none.</summary>
    public async Task<bool> ProcessNextAsync(CancellationToken cancellationToken)
    {
        var claimed = await ProcessAsync(onlyId: null, cancellationToken);
        if (claimed.OneByOne)
        {
            foreach (var id in claimed.Ids)
            {
                await ProcessAsync(id, cancellationToken);
            }
        }
        return claimed.Count > 0;
    }

    /// <summary>What one transaction claimed, and whether those rows are to be processed again one by one (a batch of several, rolled back).</summary>
    private sealed record Outcome(IReadOnlyList<long> Ids, bool OneByOne)
    {
        public int Count => Ids.Count;
    }

    /// <param name="onlyId">Claim this row only (if it is still due), not the next ones.</param>
    private async Task<Outcome> ProcessAsync(long? onlyId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The savepoint goes in the claim's round trip: a lone message's failed attempt rolls back to it
        // and is counted while the row is still locked, so no other worker tries it before its failure
        // is recorded.
        // The claim is planned afresh each time (force_custom_plan), for the inbox as it is now. The
        // data source prepares repeated statements, and PostgreSQL may then keep one generic plan for
        // them; one made while the inbox was nearly empty (a nested loop that scans the whole inbox
        // for every row) stayed in use as a flood filled it: claims took 1-26 s each and processing
        // all but stopped (auto_explain, messaging benchmark). Planning costs about half a millisecond
        // per claim of up to InboxBatch texts.
        var which = onlyId is null ? "ORDER BY i.id LIMIT @limit" : "AND i.id = @onlyId";
        var rows = (await connection.QueryAsync<Claimed>(new CommandDefinition($"""
            SET LOCAL plan_cache_mode = force_custom_plan;
            {DueRows}
            {which}
            FOR UPDATE SKIP LOCKED;
            SAVEPOINT processing;
            """, new { now = time.GetUtcNow(), limit = options.Value.InboxBatch, onlyId }, transaction, cancellationToken: cancellationToken))).ToList();
        var ids = rows.Select(row => row.Id).ToList();
        if (rows.Count == 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            return new Outcome(ids, OneByOne: false);
        }
        var processed = new List<(string MessageSid, string Channel, IntakeOutcome Outcome)>(rows.Count);
        Claimed? current = null;
        try
        {
            var messages = new List<InboundMessage>(rows.Count);
            foreach (var row in rows)
            {
                current = row;
                messages.Add(inbox.Read(row.MessageSid, row.PayloadEncrypted));
            }
            if (rows.Count > 1 && messages.Any(MessagingIntake.CommitsOnItsOwn))
            {
                // A PIN check must run alone (see CommitsOnItsOwn): these go one by one.
                await transaction.RollbackAsync(cancellationToken);
                return new Outcome(ids, OneByOne: true);
            }
            for (var i = 0; i < rows.Count; i++)
            {
                current = rows[i];
                processed.Add((rows[i].MessageSid, messages[i].Channel,
                    await intake.ReceiveAsync(connection, transaction, messages[i], cancellationToken)));
            }
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM inbound_inbox WHERE id = ANY(@ids)", new { ids = ids.ToArray() }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception ex) when (!IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            if (rows.Count > 1)
            {
                // Which message failed, and whether alone it would, is found one by one.
                await transaction.RollbackAsync(cancellationToken);
                LogBatchFailed(logger, rows.Count, current!.MessageSid, ex.GetType().Name);
                return new Outcome(ids, OneByOne: true);
            }
            await CountFailureAsync(connection, transaction, rows[0], ex.GetType().Name, cancellationToken);
            return new Outcome(ids, OneByOne: false);
        }
        foreach (var (messageSid, channel, outcome) in processed)
        {
            LogProcessed(logger, messageSid, channel, outcome);
        }
        return new Outcome(ids, OneByOne: false);
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

    [LoggerMessage(EventId = 4035, Level = LogLevel.Warning, Message = "Inbox processor: a batch of {Count} messages failed at {MessageSid} ({Error}); rolled back, processing them one by one")]
    private static partial void LogBatchFailed(ILogger logger, int count, string messageSid, string error);

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
/// <remarks>
/// <b>Taking a text in comes first.</b> Twilio waits for the webhook's answer and does not send an
/// inbound text again; a processed text only waits for its reply. So, with
/// <c>Messaging:InboxGiveWayToWebhooks</c>, every loop but the first pauses while a webhook of this
/// instance is waiting for its message to be kept, and during a flood (at least
/// <c>Messaging:InboxFloodWebhooks</c> waiting at once) the first one too, processing one batch per
/// <c>Messaging:InboxFloodProcessingInterval</c>: replies slow down but never stop, in order, nothing
/// lost, and the CPU goes to the webhooks; when the flood ends, all loops drain the backlog. (On two
/// cores the loops compete with the webhooks for the CPU: at 1,000 texts/s the webhooks' p99 was
/// 37-44 ms with four loops at full speed and 434 ms with sixteen; under a flood, one loop processing
/// at full speed took a fifth to a third of what the webhooks could otherwise take in. See README, Benchmarks.)
/// </remarks>
public sealed partial class InboxProcessorService(
    InboxProcessor processor, Inbox inbox, StartupState startup, IOptions<MessagingOptions> options, TimeProvider time,
    ILogger<InboxProcessorService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.InboxProcessorEnabled
            ? Task.WhenAll(Enumerable.Range(0, options.Value.InboxWorkers).Select(loop => Task.Run(() => RunAsync(givesWay: loop > 0, stoppingToken), stoppingToken)))
            : Task.CompletedTask;

    /// <summary>How often a loop that gives way looks again whether the webhooks are done.</summary>
    private static readonly TimeSpan GiveWayPause = TimeSpan.FromMilliseconds(10);

    private async Task RunAsync(bool givesWay, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var interval = settings.InboxPollInterval;
        // The first loop is the one that goes on while webhooks wait; it gives way to a flood only.
        var isFirst = !givesWay;
        givesWay &= settings.InboxGiveWayToWebhooks;
        var floodWait = isFirst && settings.InboxGiveWayToWebhooks ? settings.InboxFloodProcessingInterval : TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before looking, so that a row kept while this loop looks is not missed.
            var arrival = inbox.NextArrival;
            try
            {
                while (givesWay && inbox.Keeping > 0)
                {
                    await Task.Delay(GiveWayPause, time, stoppingToken);
                }
                // A flood holds the first loop back too, but only for a while: replies never stop.
                var flood = time.GetTimestamp();
                while (inbox.Keeping >= settings.InboxFloodWebhooks && time.GetElapsedTime(flood) < floodWait)
                {
                    await Task.Delay(GiveWayPause, time, stoppingToken);
                }
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
