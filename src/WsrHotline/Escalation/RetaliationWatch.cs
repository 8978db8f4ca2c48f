using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Deadlines;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Jobs;
using WsrHotline.LiveEvents;
using WsrHotline.Messaging;
using WsrHotline.Pii;

namespace WsrHotline.Escalation;

/// <summary>What a worker's text meant as an answer to a retaliation check-in.</summary>
public enum CheckinAnswer
{
    AllWell,
    Problem,
}

/// <summary>
/// Retaliation watch. When a complaint is resolved, check-ins are scheduled 30, 60 and 90 days later
/// (<see cref="ScheduleAsync"/>); when one is due, a text in the worker's language is queued on the
/// messaging outbound path (<c>messages</c>, status 'pending', purpose 'retaliation_checkin'; kept
/// 'suppressed' if the worker opted out). It asks for 1 (all is well) or 2 (a problem or retaliation).
/// The worker's next text within <see cref="EscalationOptions.CheckinAnswerWindow"/> answers it:
/// "1" alone is all well; anything else ("2", or words: a worker who writes is telling us something)
/// reopens the complaint at retaliation severity.
/// </summary>
public sealed partial class RetaliationWatch(
    NpgsqlDataSource dataSource, TimeProvider time, PiiProtector pii, IvrFlowProvider flows, IOptions<EscalationOptions> options,
    IBackgroundJobClient jobs, ILogger<RetaliationWatch> logger)
{
    public const string Purpose = "retaliation_checkin";

    private static readonly int[] DefaultDays = [30, 60, 90];

    /// <summary>Schedules the check-ins of a complaint resolved at <paramref name="resolvedAt"/> (in the resolving transaction).</summary>
    public static Task ScheduleAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset resolvedAt, CancellationToken cancellationToken,
        IReadOnlyList<int>? days = null) =>
        connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO retaliation_checkins (complaint_id, after_days, due_at)
            SELECT @complaintId, d, @resolvedAt + make_interval(days => d) FROM unnest(@days) AS d
            ON CONFLICT DO NOTHING
            """, new { complaintId, resolvedAt, days = (days ?? DefaultDays).ToArray() }, transaction, cancellationToken: cancellationToken));

    private sealed record DueCheckin(
        long Id, long ComplaintId, int AfterDays, string CaseNumber, string LanguageCode, long? CallerIdentityId, string ComplaintChannel);

    private sealed record ConversationRow(long Id, string Channel, string? LanguageCode, DateTime? OptedOutAt);

    /// <summary>Queues every check-in that is due; returns how many were queued (sent or suppressed).</summary>
    public async Task<int> QueueDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var flow = flows.Current;
        var queued = 0;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var due = await connection.QuerySingleOrDefaultAsync<DueCheckin>(new CommandDefinition("""
                SELECT r.id, r.complaint_id, r.after_days, c.case_number, c.language_code, c.caller_identity_id, c.channel AS complaint_channel
                FROM retaliation_checkins r JOIN complaints c ON c.id = r.complaint_id
                WHERE r.queued_at IS NULL AND r.cancelled_at IS NULL AND r.due_at <= @now
                ORDER BY r.due_at LIMIT 1
                FOR UPDATE OF r SKIP LOCKED
                """, new { now }, transaction, cancellationToken: cancellationToken));
            if (due is null)
            {
                return queued;
            }
            var toSend = await QueueAsync(connection, transaction, due, flow, now, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            if (toSend is { } messageId)
            {
                AfterCommit.Enqueue(logger, "a retaliation check-in", () => OutboundSender.Enqueue(jobs, [messageId]));
            }
            queued++;
        }
    }

    /// <summary>Queues one check-in; returns its message when there is one to send (not skipped, not suppressed).</summary>
    private async Task<long?> QueueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DueCheckin due, IvrFlow flow, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var status = await connection.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT status FROM complaints WHERE id = @ComplaintId", due, transaction, cancellationToken: cancellationToken));
        if (due.CallerIdentityId is not { } identityId || status is not ("resolved" or "verified"))
        {
            // Reopened, closed another way, or no number to text: nothing to ask.
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE retaliation_checkins SET cancelled_at = @now WHERE id = @Id", new { now, due.Id }, transaction, cancellationToken: cancellationToken));
            await Timeline.AppendAsync(connection, transaction, due.ComplaintId, TimelineActor.System, null, "retaliation.checkin_skipped",
                new { after_days = due.AfterDays, reason = due.CallerIdentityId is null ? "no_number" : "status_" + status }, cancellationToken);
            return null;
        }
        // The worker's thread: the one they last wrote on; a caller who only phoned gets an SMS thread.
        var conversation = await connection.QuerySingleOrDefaultAsync<ConversationRow>(new CommandDefinition("""
            SELECT id, channel, language_code, opted_out_at FROM conversations
            WHERE caller_identity_id = @identityId ORDER BY last_inbound_at DESC LIMIT 1
            """, new { identityId }, transaction, cancellationToken: cancellationToken))
            ?? await connection.QuerySingleAsync<ConversationRow>(new CommandDefinition("""
                INSERT INTO conversations (caller_identity_id, channel, language_code, state, last_inbound_at)
                VALUES (@identityId, 'sms', @LanguageCode, 'open', @now)
                ON CONFLICT (caller_identity_id, channel) DO UPDATE SET language_code = coalesce(conversations.language_code, excluded.language_code)
                RETURNING id, channel, language_code, opted_out_at
                """, new { identityId, due.LanguageCode, now }, transaction, cancellationToken: cancellationToken));
        var identityOptedOut = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT opted_out_at IS NOT NULL FROM caller_identities WHERE id = @identityId", new { identityId }, transaction, cancellationToken: cancellationToken));
        var optedOut = conversation.OptedOutAt is not null || identityOptedOut;
        var language = flow.Languages.Any(l => l.Code == due.LanguageCode) ? due.LanguageCode : flow.DefaultLanguage.Code;
        var text = flow.RenderText(language, IvrPromptKeys.SmsRetaliationCheckin,
            new Dictionary<string, string> { [IvrPlaceholders.CaseNumber] = due.CaseNumber });
        var messageId = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
            INSERT INTO messages (direction, channel, caller_identity_id, complaint_id, conversation_id, body_encrypted,
                                  status, purpose, next_attempt_at, created_at, updated_at)
            VALUES ('outbound', @Channel, @identityId, @ComplaintId, @conversationId, @body, @status, @purpose, @now, @now, @now)
            RETURNING id
            """,
            new
            {
                conversation.Channel,
                identityId,
                due.ComplaintId,
                conversationId = conversation.Id,
                body = pii.Encrypt(text, PiiPurpose.MessageBody),
                status = optedOut ? "suppressed" : "pending",
                purpose = Purpose,
                now,
            }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE retaliation_checkins SET cancelled_at = @now
            WHERE complaint_id = @ComplaintId AND queued_at IS NOT NULL AND answered_at IS NULL AND cancelled_at IS NULL;
            UPDATE retaliation_checkins SET queued_at = @now, message_id = @messageId WHERE id = @Id;
            """, new { now, messageId, due.Id, due.ComplaintId }, transaction, cancellationToken: cancellationToken));
        await Timeline.AppendAsync(connection, transaction, due.ComplaintId, TimelineActor.System, null, "retaliation.checkin_queued",
            new { after_days = due.AfterDays, message_id = messageId, channel = conversation.Channel, suppressed = optedOut }, cancellationToken);
        LogQueued(logger, due.ComplaintId, due.AfterDays, optedOut);
        return optedOut ? null : messageId;
    }

    /// <summary>
    /// For messaging intake, in the inbound message's transaction: if the worker has a check-in waiting
    /// for an answer, this text answers it (on a worrying answer the complaint is reopened at
    /// retaliation severity). Returns the complaint and the answer, or null when no check-in waits.
    /// </summary>
    public async Task<(long ComplaintId, CheckinAnswer Answer)?> TryAnswerAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long callerIdentityId, string body, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var waiting = await connection.QuerySingleOrDefaultAsync<(long Id, long ComplaintId, int AfterDays)?>(new CommandDefinition("""
            SELECT r.id, r.complaint_id, r.after_days
            FROM retaliation_checkins r JOIN complaints c ON c.id = r.complaint_id
            WHERE c.caller_identity_id = @callerIdentityId AND r.queued_at IS NOT NULL AND r.answered_at IS NULL
              AND r.cancelled_at IS NULL AND r.queued_at > @since
            ORDER BY r.queued_at DESC LIMIT 1
            FOR UPDATE OF r
            """, new { callerIdentityId, since = now - options.Value.CheckinAnswerWindow }, transaction, cancellationToken: cancellationToken));
        if (waiting is not { } checkin)
        {
            return null;
        }
        var answer = IsAllWell(body) ? CheckinAnswer.AllWell : CheckinAnswer.Problem;
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE retaliation_checkins SET answered_at = @now, answer = @answer WHERE id = @Id",
            new { now, answer = answer == CheckinAnswer.AllWell ? "all_well" : "problem", checkin.Id }, transaction, cancellationToken: cancellationToken));
        await Timeline.AppendAsync(connection, transaction, checkin.ComplaintId, TimelineActor.Worker, null, "retaliation.checkin_answered",
            new { after_days = checkin.AfterDays, answer = answer == CheckinAnswer.AllWell ? "all_well" : "problem" }, cancellationToken);
        if (answer == CheckinAnswer.Problem)
        {
            await ReopenAsync(connection, transaction, checkin.ComplaintId, now, cancellationToken);
        }
        LogAnswered(logger, checkin.ComplaintId, answer);
        return (checkin.ComplaintId, answer);
    }

    /// <summary>"1" alone (Latin or Bengali digit), nothing else, means all is well.</summary>
    public static bool IsAllWell(string body) => body.Trim() is "1" or "১";

    private static async Task ReopenAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = await connection.QuerySingleAsync<(string Status, string Severity, string LanguageCode, int? AssignedStaffId)>(new CommandDefinition("""
            SELECT status, severity, language_code, assigned_staff_id FROM complaints WHERE id = @complaintId FOR UPDATE
            """, new { complaintId }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE complaints SET status = 'investigating', severity = 'retaliation', last_activity_at = @now WHERE id = @complaintId;
            UPDATE retaliation_checkins SET cancelled_at = @now WHERE complaint_id = @complaintId AND answered_at IS NULL AND cancelled_at IS NULL;
            """, new { complaintId, now }, transaction, cancellationToken: cancellationToken));
        await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Worker, null, "complaint.reopened",
            new { reason = "retaliation_checkin", from_status = before.Status, status = "investigating", from_severity = before.Severity, severity = "retaliation" },
            cancellationToken);
        await ComplaintClocks.OnReopenedAsync(connection, transaction, complaintId, now, cancellationToken);
        var change = new { complaint_id = complaintId, reason = "reopened", status = "investigating", severity = "retaliation" };
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.ComplaintChanged,
            before.AssignedStaffId is { } staff ? Audience.StaffMember(staff) : Audience.Language(before.LanguageCode), complaintId, change, cancellationToken);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Dashboard, Audience.Coordinators, complaintId,
            new { reason = "complaint.reopened", complaint_id = complaintId, severity = "retaliation" }, cancellationToken);
    }

    [LoggerMessage(EventId = 6031, Level = LogLevel.Information, Message = "Retaliation check-in for complaint {ComplaintId} after {Days} days queued (suppressed: {Suppressed})")]
    private static partial void LogQueued(ILogger logger, long complaintId, int days, bool suppressed);

    [LoggerMessage(EventId = 6032, Level = LogLevel.Information, Message = "Retaliation check-in of complaint {ComplaintId} answered: {Answer}")]
    private static partial void LogAnswered(ILogger logger, long complaintId, CheckinAnswer answer);
}
