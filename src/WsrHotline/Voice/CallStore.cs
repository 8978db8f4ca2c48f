using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;

namespace WsrHotline.Voice;

/// <summary>A call as the voice webhooks need it.</summary>
public sealed record CallRow(
    long Id,
    string CallSid,
    string Stage,
    string? LanguageCode,
    long? ComplaintId,
    long? CallerIdentityId,
    int? AnsweredBy,
    int TierRung,
    int? TierRungQueueTime,
    DateTime? VoicemailAt,
    // The console offer is over (nobody was available, it ran out, or its accepted leg failed):
    // the queue's wait requests go straight to the phone tiers without asking the consoles again.
    bool ConsoleOfferSettled,
    // Twilio has reported the caller's call over (completed, busy, no-answer, canceled, failed).
    bool Ended);

/// <summary>The SQL of voice intake: calls by CallSid (the idempotency key of every webhook), their legs.</summary>
public sealed class CallStore(
    NpgsqlDataSource dataSource, PiiProtector pii, IOptions<Twilio.TwilioOptions> twilio, TimeProvider time, IBackgroundJobClient jobs, ILogger<CallStore> logger)
{
    internal const string CallColumns = """
        id, call_sid, stage, language_code, complaint_id, caller_identity_id, answered_by,
        tier_rung::int AS tier_rung, tier_rung_queue_time, voicemail_at,
        (console_offered_at IS NOT NULL AND (console_offer_until IS NULL OR console_offer_until <= console_offered_at)) AS console_offer_settled,
        status_rank = 5 AS ended
        """;

    /// <summary>Twilio's call statuses in the order they can happen; terminal ones share the top rank.</summary>
    public static short StatusRank(string status) => status switch
    {
        "queued" => 1,
        "initiated" => 2,
        "ringing" => 3,
        "in-progress" or "answered" => 4,
        "completed" or "busy" or "no-answer" or "canceled" or "failed" => 5,
        _ => 0,
    };

    public static bool IsTerminal(string status) => StatusRank(status) == 5;

    public async Task<CallRow?> FindAsync(string callSid, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await FindAsync(connection, callSid, cancellationToken);
    }

    public async Task<CallRow?> FindByIdAsync(long callId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CallRow>(new CommandDefinition(
            $"SELECT {CallColumns} FROM calls WHERE id = @callId", new { callId }, cancellationToken: cancellationToken));
    }

    private static Task<CallRow?> FindAsync(NpgsqlConnection connection, string callSid, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<CallRow>(new CommandDefinition(
            $"SELECT {CallColumns} FROM calls WHERE call_sid = @callSid", new { callSid }, cancellationToken: cancellationToken));

    public async Task SetStageAsync(long callId, string stage, string? languageCode, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET stage = @stage, language_code = coalesce(@languageCode, language_code) WHERE id = @callId
            """, new { callId, stage, languageCode }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The complaint this call belongs to, opened now if the call has none (a call that reaches an
    /// investigator or a voicemail is a complaint). The PIN is issued later, when the worker hears it.
    /// </summary>
    public async Task<long> EnsureComplaintAsync(CallRow call, string languageCode, CancellationToken cancellationToken)
    {
        if (call.ComplaintId is { } existing)
        {
            return existing;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Lock the call so two webhooks of one call cannot open two complaints.
        var current = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT complaint_id FROM calls WHERE id = @Id FOR UPDATE", call, transaction, cancellationToken: cancellationToken));
        if (current is { } raced)
        {
            return raced;
        }
        var opened = await Complaints.OpenAsync(connection, transaction, Channels.Voice, languageCode, call.CallerIdentityId, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE calls SET complaint_id = @complaintId WHERE id = @Id",
            new { call.Id, complaintId = opened.Id }, transaction, cancellationToken: cancellationToken));
        await Timeline.AppendAsync(connection, transaction, opened.Id, TimelineActor.Worker, null, "call.received",
            new { call_sid = call.CallSid, language = languageCode }, cancellationToken);
        // The consoles of the language list the new case at once (a text's case comes with its message.received).
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.ComplaintChanged, Audience.Language(languageCode), opened.Id,
            new { complaintId = opened.Id, change = "opened" }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return opened.Id;
    }

    /// <summary>
    /// Attaches the call to an existing complaint (the caller proved it is theirs), on its timeline,
    /// and records that its status was told on this call (<see cref="StatusToldAsync"/>).
    /// </summary>
    public async Task LinkComplaintAsync(long callId, long complaintId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var linked = await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            UPDATE calls SET complaint_id = @complaintId, status_told_at = now() FROM calls AS prior
            WHERE calls.id = @callId AND prior.id = calls.id
            RETURNING prior.complaint_id IS DISTINCT FROM @complaintId
            """,
            new { callId, complaintId }, transaction, cancellationToken: cancellationToken));
        if (linked)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Worker, null, "call.joined_case",
                new { call_id = callId }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The call read a case's status out to the caller (a verified case number + PIN).</summary>
    public async Task<bool> StatusToldAsync(long callId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT status_told_at IS NOT NULL FROM calls WHERE id = @callId", new { callId }, cancellationToken: cancellationToken));
    }

    public async Task AppendTimelineAsync(long? complaintId, TimelineActor actor, int? staffId, string kind, object details, CancellationToken cancellationToken)
    {
        if (complaintId is not { } id)
        {
            return;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await Timeline.AppendAsync(connection, null, id, actor, staffId, kind, details, cancellationToken);
    }

    /// <summary>
    /// An investigator is talking to the caller: on the timeline, and the complaint's first-contact
    /// clock is met, in one transaction.
    /// </summary>
    public async Task RecordAnsweredAsync(long? complaintId, int staffId, object details, CancellationToken cancellationToken)
    {
        if (complaintId is not { } id)
        {
            return;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Timeline.AppendAsync(connection, transaction, id, TimelineActor.Staff, staffId, "call.answered", details, cancellationToken);
        await Deadlines.ComplaintClocks.MeetFirstContactAsync(connection, transaction, id, time.GetUtcNow(), staffId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// The worker's call is over: every console that shows its offer clears the banner, those of its
    /// language and, while it was being transferred to another language's queue, those of that one.
    /// </summary>
    public async Task AnnounceEndedAsync(CallRow call, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var queue = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT transfer_to_language FROM calls WHERE id = @Id", new { call.Id }, cancellationToken: cancellationToken));
        foreach (var language in new[] { call.LanguageCode, queue }.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            await LiveEvents.ConsoleEvents.AppendAsync(connection, null, LiveEvents.ConsoleEventKinds.CallEnded, LiveEvents.Audience.Language(language),
                call.ComplaintId, new { callId = call.Id, answered = call.AnsweredBy is not null }, cancellationToken);
        }
    }

    /// <summary>
    /// Withdraws the claim of an accepted leg whose caller had gone: the call is unanswered again (so
    /// its end is an abandonment, with a callback owed) and the investigator is free. Returns the call
    /// as it now is, or null when the claim was not this leg's.
    /// </summary>
    public async Task<CallRow?> UnclaimAsync(CallLeg leg, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var call = await connection.QuerySingleOrDefaultAsync<CallRow>(new CommandDefinition($"""
            UPDATE calls SET answered_by = NULL, answered_at = NULL
            WHERE id = @CallId AND answered_by = @StaffId
            RETURNING {CallColumns}
            """, leg, transaction, cancellationToken: cancellationToken));
        if (call is not null)
        {
            await connection.ExecuteAsync(new CommandDefinition("UPDATE call_legs SET status = 'caller_left' WHERE id = @Id",
                leg, transaction, cancellationToken: cancellationToken));
            await CallPresence.NotOnCallAsync(connection, transaction, leg.StaffId, leg.CallId, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return call;
    }

    /// <summary>
    /// Stores the recording reference (its address encrypted: it plays the worker's voice) and the
    /// recording's copy row, in one transaction, then enqueues the copy out of Twilio
    /// (<see cref="VoicemailCopies"/>) once. Idempotent. Without a RecordingSid there is nothing to
    /// store; without a RecordingUrl (Twilio always sends one) the recording's address is Twilio's for
    /// that sid. Returns whether the call's recording changed.
    /// </summary>
    public async Task<bool> StoreRecordingAsync(long callId, string recordingSid, string recordingUrl, int? durationSeconds, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(recordingSid))
        {
            return false;
        }
        if (string.IsNullOrEmpty(recordingUrl))
        {
            recordingUrl = $"{twilio.Value.ApiBaseUrl.TrimEnd('/')}/2010-04-01/Accounts/{twilio.Value.AccountSid}/Recordings/{recordingSid}";
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var changed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET recording_sid = @recordingSid, recording_url_encrypted = @encrypted,
                             voicemail_at = coalesce(voicemail_at, now())
            WHERE id = @callId AND recording_sid IS DISTINCT FROM @recordingSid
            """,
            new { callId, recordingSid, encrypted = pii.Encrypt(recordingUrl, PiiPurpose.RecordingUrl) },
            transaction, cancellationToken: cancellationToken));
        // xmax = 0: this statement inserted the row (a retried webhook finds it and enqueues nothing).
        var copy = await connection.QuerySingleAsync<(long Id, bool Inserted)>(new CommandDefinition("""
            INSERT INTO voicemail_recordings (call_id, recording_sid, duration_seconds) VALUES (@callId, @recordingSid, @durationSeconds)
            ON CONFLICT (recording_sid) DO UPDATE SET duration_seconds = coalesce(voicemail_recordings.duration_seconds, EXCLUDED.duration_seconds)
            RETURNING id, xmax = 0 AS inserted
            """, new { callId, recordingSid, durationSeconds }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        if (copy.Inserted)
        {
            Jobs.AfterCommit.Enqueue(logger, "recording " + recordingSid, () => VoicemailCopies.Enqueue(jobs, copy.Id));
        }
        return changed > 0;
    }

    public async Task MarkVoicemailAsync(long callId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE calls SET voicemail_at = coalesce(voicemail_at, now()), stage = 'readout' WHERE id = @callId",
            new { callId }, cancellationToken: cancellationToken));
    }

    /// <summary>Owes the worker a callback (once per call); a withheld number cannot be called back.</summary>
    public async Task<bool> OweCallbackAsync(CallRow call, long? complaintId, string reason, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        if (call.CallerIdentityId is null)
        {
            return false;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var created = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
            INSERT INTO callback_tasks (call_id, complaint_id, caller_identity_id, language_code, reason, due_at)
            VALUES (@callId, @complaintId, @identity, @language, @reason, @dueAt)
            ON CONFLICT (call_id) DO NOTHING
            RETURNING id
            """,
            new { callId = call.Id, complaintId, identity = call.CallerIdentityId, language = call.LanguageCode, reason, dueAt },
            transaction, cancellationToken: cancellationToken));
        if (created is { } taskId)
        {
            // The consoles' callback lists show it at once.
            await CallbackTasks.AnnounceAsync(connection, transaction, taskId, complaintId, call.LanguageCode, "owed", cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return created is not null;
    }

    /// <summary>
    /// Applies a status callback; a duplicate or late one (lower or equal rank) changes nothing.
    /// Returns true when this callback is the one that ended the call.
    /// </summary>
    public async Task<bool> ApplyStatusAsync(string callSid, string status, int? durationSeconds, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rank = StatusRank(status);
        var changed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET status = @status, status_rank = @rank,
                             duration_seconds = coalesce(@durationSeconds, duration_seconds),
                             ended_at = CASE WHEN @rank = 5 THEN now() ELSE ended_at END
            WHERE call_sid = @callSid AND status_rank < @rank
            """, new { callSid, status, rank, durationSeconds }, cancellationToken: cancellationToken));
        return changed > 0 && rank == 5;
    }
}
