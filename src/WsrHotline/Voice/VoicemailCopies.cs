using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Clients;
using Twilio.Exceptions;
using WsrHotline.Intake;
using WsrHotline.Jobs;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Twilio;
using RecordingResource = Twilio.Rest.Api.V2010.Account.RecordingResource;

namespace WsrHotline.Voice;

/// <summary>
/// Copies each voicemail out of Twilio into the hotline's own storage and then deletes Twilio's copy,
/// so a worker's voice does not live on in Twilio. One Hangfire job per recording (a
/// <c>voicemail_recordings</c> row, created with the recording reference by
/// <see cref="CallStore.StoreRecordingAsync"/>): the audio is downloaded with the account's
/// credentials (<see cref="TwilioMediaDownloader"/>), encrypted (AES-256-GCM, bound to the row) and
/// committed; only then is Twilio's copy deleted through Twilio's library. A failed download or
/// delete is retried by Hangfire with backoff (<see cref="VoiceOptions.RecordingCopyMaxAttempts"/>);
/// a copy that never succeeds is 'failed', on the timeline, and Twilio keeps its recording.
/// </summary>
/// <remarks>
/// The recording's address is never logged or stored in clear: it is built from the RecordingSid
/// under <see cref="TwilioOptions.ApiBaseUrl"/> (Twilio's <c>…/Recordings/RE….wav</c>). The
/// reconciliation (<c>Reconciliation/TwilioReconciliation.cs</c>) knows a recording by
/// <c>calls.recording_sid</c>, which stays: one copied and deleted is not listed by Twilio any more,
/// and one listed before its delete is already known.
/// </remarks>
public sealed partial class VoicemailCopies(
    NpgsqlDataSource dataSource,
    TwilioMediaDownloader downloader,
    ITwilioRestClient twilioRest,
    PiiProtector pii,
    IOptions<TwilioOptions> twilio,
    IOptions<VoiceOptions> options,
    TimeProvider time,
    IBackgroundJobClient jobs,
    ILogger<VoicemailCopies> logger)
{
    /// <summary>A recording is never longer than Twilio's 4 hours; a voicemail far shorter. Beyond this, something is wrong.</summary>
    private const long MaxBytes = 256L * 1024 * 1024;

    private static readonly TimeSpan ForgottenAfter = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(10);

    private sealed record Claimed(long Id, long CallId, long? ComplaintId, string? CaseNumber, string? LanguageCode, string RecordingSid, int Attempts);

    /// <summary>Enqueues the copy job of a recording, once its row is committed.</summary>
    public static void Enqueue(IBackgroundJobClient jobs, long recordingId) =>
        jobs.Enqueue<VoicemailCopies>(copies => copies.CopyAsync(recordingId, CancellationToken.None));

    /// <summary>The recurring safety net: a job for each copy (or delete) that lost its own; returns how many.</summary>
    public async Task<int> EnqueueForgottenAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var forgotten = (await connection.QueryAsync<long>(new CommandDefinition("""
            SELECT id FROM voicemail_recordings
            WHERE (status = 'pending' AND next_attempt_at < @pendingBefore)
               OR ((status = 'claimed' OR (status = 'stored' AND twilio_deleted_at IS NULL AND delete_gave_up_at IS NULL)) AND updated_at < @claimedBefore)
            ORDER BY id
            """, new { pendingBefore = now - ForgottenAfter, claimedBefore = now - AbandonedAfter }, cancellationToken: cancellationToken))).ToList();
        foreach (var id in forgotten)
        {
            Enqueue(jobs, id);
        }
        return forgotten.Count;
    }

    /// <summary>The Hangfire job: copies recording <paramref name="recordingId"/> unless it is stored already, then deletes Twilio's copy.</summary>
    public async Task CopyAsync(long recordingId, CancellationToken cancellationToken)
    {
        if (await ClaimAsync(recordingId, cancellationToken) is { } row)
        {
            if (!await DownloadAndStoreAsync(row, cancellationToken))
            {
                return;
            }
        }
        await DeleteTwilioCopyAsync(recordingId, cancellationToken);
    }

    private async Task<Claimed?> ClaimAsync(long recordingId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition("""
            UPDATE voicemail_recordings r SET status = 'claimed', attempts = attempts + 1, updated_at = now()
            FROM calls c LEFT JOIN complaints k ON k.id = c.complaint_id
            WHERE r.id = @recordingId AND r.status IN ('pending', 'claimed') AND c.id = r.call_id
            RETURNING r.id, r.call_id, c.complaint_id, k.case_number, k.language_code, r.recording_sid, r.attempts
            """, new { recordingId }, cancellationToken: cancellationToken));
    }

    /// <summary>Downloads and stores the audio; false when there is nothing more to do (another job's claim won).</summary>
    private async Task<bool> DownloadAndStoreAsync(Claimed row, CancellationToken cancellationToken)
    {
        MediaContent audio;
        try
        {
            audio = await downloader.DownloadAsync(AudioUrl(row.RecordingSid), MaxBytes, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransferFailure(ex))
        {
            await RetryOrFailAsync(row, ex, cancellationToken);
            return false;
        }

        var type = audio.ContentType.Split(';')[0].Trim().ToLowerInvariant() switch
        {
            "audio/x-wav" or "audio/wave" or "audio/wav" => "audio/wav",
            { Length: > 0 } given and not "application/octet-stream" => given,
            _ => "audio/wav",
        };
        var encrypted = pii.EncryptBytes(audio.Content.Span, PiiPurpose.RecordingContent(row.Id));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var stored = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE voicemail_recordings
            SET status = 'stored', content_type = @type, size_bytes = @size, content_encrypted = @encrypted,
                stored_at = now(), last_error = NULL, updated_at = now()
            WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
            """, new { row.Id, row.Attempts, type, size = audio.Content.Length, encrypted }, transaction, cancellationToken: cancellationToken));
        if (stored == 0)
        {
            // A later job for the same recording claimed it since: its outcome is the one kept.
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }
        if (row is { ComplaintId: { } complaintId, LanguageCode: { } language })
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "voicemail.copied",
                new { recording_id = row.Id, size_bytes = audio.Content.Length, content_type = type }, cancellationToken);
            // An open case page shows the player now.
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.ComplaintChanged, Audience.Language(language), complaintId,
                new { complaintId, caseNumber = row.CaseNumber, change = "voicemail", value = "copied" }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        LogStored(logger, row.Id, row.RecordingSid, audio.Content.Length, row.Attempts);
        return true;
    }

    /// <summary>
    /// Deletes Twilio's copy of a stored recording (a recording already gone counts as deleted), at most
    /// <see cref="VoiceOptions.RecordingCopyMaxAttempts"/> times; then the timeline says Twilio keeps it.
    /// </summary>
    private async Task DeleteTwilioCopyAsync(long recordingId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(string Sid, int Attempts)?>(new CommandDefinition("""
            UPDATE voicemail_recordings SET delete_attempts = delete_attempts + 1, updated_at = now()
            WHERE id = @recordingId AND status = 'stored' AND twilio_deleted_at IS NULL AND delete_gave_up_at IS NULL
            RETURNING recording_sid, delete_attempts
            """, new { recordingId }, cancellationToken: cancellationToken));
        if (row is not var (sid, attempts))
        {
            return;
        }
        try
        {
            await RecordingResource.DeleteAsync(sid, client: twilioRest);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            // Deleted already (by an earlier run whose answer was lost, or by hand in Twilio's console).
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransferFailure(ex))
        {
            var error = TwilioFailures.Describe(ex);
            var givingUp = attempts >= options.Value.RecordingCopyMaxAttempts;
            await using var failing = await connection.BeginTransactionAsync(cancellationToken);
            var failedCase = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
                UPDATE voicemail_recordings r SET last_error = @error, delete_gave_up_at = coalesce(r.delete_gave_up_at, CASE WHEN @givingUp THEN now() END), updated_at = now()
                FROM calls c WHERE r.id = @recordingId AND c.id = r.call_id
                RETURNING c.complaint_id
                """, new { recordingId, error = "delete: " + error, givingUp }, failing, cancellationToken: cancellationToken));
            if (givingUp && failedCase is { } caseId)
            {
                await Timeline.AppendAsync(connection, failing, caseId, TimelineActor.System, null, "voicemail.twilio_copy_not_deleted",
                    new { recording_id = recordingId, attempts, error }, cancellationToken);
            }
            await failing.CommitAsync(cancellationToken);
            LogDeleteFailed(logger, recordingId, sid, attempts, error);
            throw givingUp
                ? new JobGaveUpException($"Twilio's copy of recording {recordingId} not deleted after {attempts} attempt(s) ({error}); delete it in Twilio's console.")
                : new JobWillRetryException($"Twilio's copy of recording {recordingId} not deleted ({error}); tried again.");
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaintId = await connection.QuerySingleOrDefaultAsync<(long Id, long? ComplaintId)?>(new CommandDefinition("""
            UPDATE voicemail_recordings r SET twilio_deleted_at = now(), updated_at = now()
            FROM calls c
            WHERE r.id = @recordingId AND r.twilio_deleted_at IS NULL AND c.id = r.call_id
            RETURNING r.id, c.complaint_id
            """, new { recordingId }, transaction, cancellationToken: cancellationToken));
        if (complaintId is { ComplaintId: { } complaint })
        {
            await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, null, "voicemail.twilio_copy_deleted",
                new { recording_id = recordingId }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        LogDeleted(logger, recordingId, sid);
    }

    private async Task RetryOrFailAsync(Claimed row, Exception ex, CancellationToken cancellationToken)
    {
        // Never the exception's message: it may quote the address.
        var error = ex switch
        {
            ApiException api => TwilioFailures.Describe(api),
            TwilioUrlRefusedException refused => $"refused: {refused.Reason} not allowed",
            _ => ex.GetType().Name,
        };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (row.Attempts < options.Value.RecordingCopyMaxAttempts && ex is not (TwilioUrlRefusedException or MediaTooLargeException))
        {
            var delay = options.Value.RecordingCopyRetryBaseDelay * Math.Pow(2, row.Attempts - 1);
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE voicemail_recordings SET status = 'pending', next_attempt_at = @next, last_error = @error, updated_at = now()
                WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
                """, new { row.Id, row.Attempts, next = time.GetUtcNow() + delay, error }, cancellationToken: cancellationToken));
            LogWillRetry(logger, row.Id, row.Attempts, TwilioFailures.HttpStatus(ex), error, delay);
            throw new JobWillRetryException($"Recording {row.Id} not copied ({error}); tried again.");
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var failed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE voicemail_recordings SET status = 'failed', last_error = @error, updated_at = now()
            WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
            """, new { row.Id, row.Attempts, error }, transaction, cancellationToken: cancellationToken));
        if (failed > 0 && row.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "voicemail.copy_failed",
                new { recording_id = row.Id, attempts = row.Attempts, error }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        LogGaveUp(logger, row.Id, row.RecordingSid, row.Attempts, error);
        throw new JobGaveUpException($"Recording {row.Id} not copied after {row.Attempts} attempt(s) ({error}); Twilio keeps its copy.");
    }

    /// <summary>Twilio's audio of a recording: <c>{ApiBaseUrl}/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.wav</c>.</summary>
    private Uri AudioUrl(string recordingSid) =>
        new($"{twilio.Value.ApiBaseUrl.TrimEnd('/')}/2010-04-01/Accounts/{Uri.EscapeDataString(twilio.Value.AccountSid)}/Recordings/{Uri.EscapeDataString(recordingSid)}.wav",
            UriKind.Absolute);

    private static bool IsTransferFailure(Exception ex) =>
        ex is ApiException or ApiConnectionException or TwilioUrlRefusedException or MediaTooLargeException or HttpRequestException
            or IOException or OperationCanceledException or TimeoutException;

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Recording {RecordingId} ({RecordingSid}) copied: {SizeBytes} bytes, attempt {Attempt}")]
    private static partial void LogStored(ILogger logger, long recordingId, string recordingSid, int sizeBytes, int attempt);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "Twilio's copy of recording {RecordingId} ({RecordingSid}) deleted")]
    private static partial void LogDeleted(ILogger logger, long recordingId, string recordingSid);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Warning, Message = "Recording {RecordingId} not copied (attempt {Attempt}, HTTP {HttpStatus}, {Error}); retrying in {Delay}")]
    private static partial void LogWillRetry(ILogger logger, long recordingId, int attempt, int? httpStatus, string error, TimeSpan delay);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Error, Message = "Recording {RecordingId} ({RecordingSid}) not copied after {Attempts} attempt(s) ({Error}); Twilio keeps its copy")]
    private static partial void LogGaveUp(ILogger logger, long recordingId, string recordingSid, int attempts, string error);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "Twilio's copy of recording {RecordingId} ({RecordingSid}) not deleted, attempt {Attempt} ({Error})")]
    private static partial void LogDeleteFailed(ILogger logger, long recordingId, string recordingSid, int attempt, string error);
}

/// <summary>A voicemail's audio, decrypted, for the console's playback endpoint (a class: a record would print it).</summary>
public sealed class DecryptedRecording(long recordingId, long? complaintId, string contentType, byte[] content)
{
    public long RecordingId { get; } = recordingId;

    /// <summary>The case the staff member must be allowed to open.</summary>
    public long? ComplaintId { get; } = complaintId;

    public string ContentType { get; } = contentType;

    public byte[] Content { get; } = content;
}

/// <summary>A case's voicemails as the console lists them (the audio: <c>/console/api/recordings/{id}</c>).</summary>
public sealed record RecordingItem(long Id, long CallId, int? DurationSeconds, string Status, bool TwilioCopyDeleted, DateTime RecordedAt);

/// <summary>Reads voicemails back from their encrypted storage.</summary>
public sealed class RecordingStore(NpgsqlDataSource dataSource, PiiProtector pii)
{
    /// <summary>The audio, decrypted; null when there is no such recording or it is not stored.</summary>
    public async Task<DecryptedRecording?> OpenDecryptedAsync(long recordingId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(long? ComplaintId, string ContentType, byte[] Content)?>(new CommandDefinition("""
            SELECT c.complaint_id, r.content_type, r.content_encrypted
            FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id
            WHERE r.id = @recordingId AND r.status = 'stored'
            """, new { recordingId }, cancellationToken: cancellationToken));
        return row is { } found
            ? new DecryptedRecording(recordingId, found.ComplaintId, found.ContentType, pii.DecryptBytes(found.Content, PiiPurpose.RecordingContent(recordingId)))
            : null;
    }

    /// <summary>The complaint a recording belongs to (null: no such recording, or not on a complaint).</summary>
    public async Task<long?> ComplaintOfAsync(long recordingId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
            SELECT c.complaint_id FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id WHERE r.id = @recordingId
            """, new { recordingId }, cancellationToken: cancellationToken));
    }

    public async Task<RecordingItem[]> ForComplaintAsync(long complaintId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return [.. await connection.QueryAsync<RecordingItem>(new CommandDefinition("""
            SELECT r.id, r.call_id, r.duration_seconds, r.status, r.twilio_deleted_at IS NOT NULL AS twilio_copy_deleted, r.created_at AS recorded_at
            FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id
            WHERE c.complaint_id = @complaintId
            ORDER BY r.created_at, r.id
            """, new { complaintId }, cancellationToken: cancellationToken))];
    }
}
