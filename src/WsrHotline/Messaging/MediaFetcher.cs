using System.Security.Cryptography;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Exceptions;
using WsrHotline.Database;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>
/// Copies workers' attachments (photos, documents, voice notes) out of Twilio into the hotline's own
/// storage, so the evidence outlives Twilio's copy: downloaded with the account's credentials,
/// encrypted (AES-256-GCM, bound to the row) and stored in <c>message_media</c>. Rows are claimed
/// like the outbound queue's (<c>FOR UPDATE SKIP LOCKED</c>, with a lease); unlike a send, a download
/// can be repeated, so a claim whose fetcher died is simply tried again. A failed download is retried
/// with backoff and, after <see cref="MessagingOptions.MediaMaxAttempts"/>, shown on the complaint.
/// </summary>
public sealed partial class MediaFetcher(
    NpgsqlDataSource dataSource,
    TwilioMediaDownloader downloader,
    PiiProtector pii,
    IvrFlowProvider flows,
    IOptions<MessagingOptions> options,
    TimeProvider time,
    ILogger<MediaFetcher> logger)
{
    private sealed record Claimed(long Id, long MessageId, string UrlEncrypted, string DeclaredContentType, int Attempts);

    /// <summary>The message an attachment came with: who to tell, and which complaint to show it on.</summary>
    private sealed record Owner(
        long? ComplaintId, string? ComplaintLanguage, string Channel, long IdentityId, long ConversationId, string? ConversationLanguage, bool OptedOut);

    /// <summary>Downloads one batch of due attachments; returns how many were claimed.</summary>
    public async Task<int> FetchDueAsync(CancellationToken cancellationToken)
    {
        await RetryInterruptedAsync(cancellationToken);
        var claimed = await ClaimAsync(cancellationToken);
        foreach (var row in claimed)
        {
            await FetchAsync(row, cancellationToken);
        }
        return claimed.Count;
    }

    private async Task<List<Claimed>> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<Claimed>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM message_media
                WHERE status = 'pending' AND next_attempt_at <= @now
                ORDER BY next_attempt_at, id
                LIMIT @batch
                FOR UPDATE SKIP LOCKED
            )
            UPDATE message_media mm
            SET status = 'claimed', lease_until = @leaseUntil, attempts = mm.attempts + 1, updated_at = now()
            FROM due
            WHERE mm.id = due.id
            RETURNING mm.id, mm.message_id, mm.url_encrypted, mm.declared_content_type, mm.attempts
            """,
            new { now, batch = options.Value.MediaBatchSize, leaseUntil = now + options.Value.MediaLease },
            cancellationToken: cancellationToken));
        return [.. rows.OrderBy(row => row.Id)];
    }

    private async Task FetchAsync(Claimed row, CancellationToken cancellationToken)
    {
        MediaContent media;
        try
        {
            var url = new Uri(pii.Decrypt(row.UrlEncrypted, PiiPurpose.MediaUrl), UriKind.Absolute);
            media = await downloader.DownloadAsync(url, options.Value.MediaMaxBytes, cancellationToken);
        }
        catch (MediaTooLargeException)
        {
            await RefuseAsync(row, "size", MessagingOptions.MediaType(row.DeclaredContentType), cancellationToken);
            return;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsDownloadFailure(ex))
        {
            await RetryOrFailAsync(row, ex, cancellationToken);
            return;
        }

        // Twilio serves the file with its real type; a CDN's generic one says nothing, and the announced type stands.
        var type = MessagingOptions.MediaType(media.ContentType) is { Length: > 0 } actual and not "application/octet-stream"
            ? actual
            : MessagingOptions.MediaType(row.DeclaredContentType);
        if (!options.Value.AllowsMediaType(type))
        {
            await RefuseAsync(row, "type", type, cancellationToken);
            return;
        }
        await StoreAsync(row, media, type, cancellationToken);
    }

    private async Task StoreAsync(Claimed row, MediaContent media, string type, CancellationToken cancellationToken)
    {
        var encrypted = pii.EncryptBytes(media.Content.Span, PiiPurpose.MediaContent(row.Id));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var owner = await OwnerAsync(connection, transaction, row.MessageId, cancellationToken);
        if (!await FinishAsync(connection, transaction, row, "stored", null, type, media.Content.Length, encrypted, null, cancellationToken))
        {
            return;
        }
        await NoticeAsync(connection, transaction, owner, row, "media.stored",
            new { message_id = row.MessageId, media_id = row.Id, status = "stored", content_type = type, size_bytes = media.Content.Length },
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogStored(logger, row.Id, row.MessageId, type, media.Content.Length, row.Attempts);
    }

    /// <summary>A type or size the hotline does not keep: never stored, and the worker is told once per message, in their language.</summary>
    private async Task RefuseAsync(Claimed row, string reason, string type, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var owner = await OwnerAsync(connection, transaction, row.MessageId, cancellationToken);
        if (!await FinishAsync(connection, transaction, row, "refused", reason, type, null, null, null, cancellationToken))
        {
            return;
        }
        await TellWorkerAsync(connection, transaction, owner, row, reason == "size" ? MediaNotices.TooLarge : MediaNotices.RefusedType,
            "refused", reason, cancellationToken);
        await NoticeAsync(connection, transaction, owner, row, "media.refused",
            new { message_id = row.MessageId, media_id = row.Id, status = "refused", reason, content_type = type },
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogRefused(logger, row.Id, row.MessageId, reason, type);
    }

    private async Task RetryOrFailAsync(Claimed row, Exception ex, CancellationToken cancellationToken)
    {
        // Never the exception's message: it may quote the address.
        var error = ex switch
        {
            ApiException api => TwilioFailures.Describe(api),
            // Not a Twilio media address (or a redirect away from one): never fetched, and never tried again.
            TwilioUrlRefusedException refused => $"refused: {refused.Reason} not allowed",
            _ => ex.GetType().Name,
        };
        if (row.Attempts < options.Value.MediaMaxAttempts && ex is not (CryptographicException or UriFormatException or TwilioUrlRefusedException))
        {
            var delay = options.Value.MediaRetryBaseDelay * Math.Pow(2, row.Attempts - 1);
            await using var retry = await dataSource.OpenConnectionAsync(cancellationToken);
            await retry.ExecuteAsync(new CommandDefinition("""
                UPDATE message_media SET status = 'pending', next_attempt_at = @next, lease_until = NULL, last_error = @error, updated_at = now()
                WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
                """, new { row.Id, row.Attempts, next = time.GetUtcNow() + delay, error }, cancellationToken: cancellationToken));
            LogWillRetry(logger, row.Id, row.Attempts, TwilioFailures.HttpStatus(ex), error, delay);
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var owner = await OwnerAsync(connection, transaction, row.MessageId, cancellationToken);
        if (!await FinishAsync(connection, transaction, row, "failed", null, null, null, null, error, cancellationToken))
        {
            return;
        }
        await TellWorkerAsync(connection, transaction, owner, row, MediaNotices.Failed, "failed", null, cancellationToken);
        await NoticeAsync(connection, transaction, owner, row, "media.failed",
            new { message_id = row.MessageId, media_id = row.Id, status = "failed", attempts = row.Attempts, error },
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogGaveUp(logger, row.Id, row.MessageId, row.Attempts, error);
    }

    /// <summary>
    /// Ends this claim (only if it is still this fetcher's: same attempt, still claimed). False when
    /// the lease had run out and another fetcher took the row over: then nothing is written.
    /// </summary>
    private static async Task<bool> FinishAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, string status, string? reason, string? type,
        long? size, byte[]? content, string? error, CancellationToken cancellationToken)
    {
        var changed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE message_media
            SET status = @status, refused_reason = @reason, content_type = @type, size_bytes = @size, content_encrypted = @content,
                last_error = @error, fetched_at = CASE WHEN @content IS NULL THEN NULL ELSE now() END, lease_until = NULL, updated_at = now()
            WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
            """, new { row.Id, row.Attempts, status, reason, type, size, content, error }, transaction, cancellationToken: cancellationToken));
        if (changed == 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }
        return true;
    }

    /// <summary>The message's owner, its row locked so that two attachments of one message never both tell the worker.</summary>
    private static Task<Owner> OwnerAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long messageId, CancellationToken cancellationToken) =>
        connection.QuerySingleAsync<Owner>(new CommandDefinition("""
            SELECT m.complaint_id, co.language_code AS complaint_language, m.channel, m.caller_identity_id AS identity_id,
                   m.conversation_id, cv.language_code AS conversation_language, cv.opted_out_at IS NOT NULL AS opted_out
            FROM messages m
            JOIN conversations cv ON cv.id = m.conversation_id
            LEFT JOIN complaints co ON co.id = m.complaint_id
            WHERE m.id = @messageId
            FOR UPDATE OF m
            """, new { messageId }, transaction, cancellationToken: cancellationToken));

    /// <summary>Queues the reply unless the worker was already told the same about another attachment of this message.</summary>
    private async Task TellWorkerAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Owner owner, Claimed row, string purpose, string status, string? reason,
        CancellationToken cancellationToken)
    {
        var alreadyTold = await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM message_media
                           WHERE message_id = @MessageId AND id <> @Id AND status = @status AND refused_reason IS NOT DISTINCT FROM @reason)
            """, new { row.MessageId, row.Id, status, reason }, transaction, cancellationToken: cancellationToken));
        if (alreadyTold)
        {
            return;
        }
        var flow = flows.Current;
        var language = owner.ConversationLanguage ?? flow.DefaultLanguage.Code;
        await Replies.QueueAsync(connection, transaction, pii,
            new ReplyTarget(owner.Channel, owner.IdentityId, owner.ConversationId, owner.ComplaintId, owner.OptedOut),
            [new Reply(purpose, flow.RenderText(language, MediaNotices.PromptKey(purpose)))], cancellationToken);
    }

    private static Task NoticeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Owner owner, Claimed row, string kind, object details,
        CancellationToken cancellationToken) =>
        owner is { ComplaintId: { } complaintId, ComplaintLanguage: { } language }
            ? MediaNotices.RecordAsync(connection, transaction, complaintId, language, row.MessageId, row.Id, kind, details, cancellationToken)
            : Task.CompletedTask;

    /// <summary>Claims older than their lease: the fetcher stopped mid-download. Downloading again is harmless.</summary>
    private async Task RetryInterruptedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var retried = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE message_media SET status = 'pending', next_attempt_at = @now, lease_until = NULL, updated_at = now(),
                                     last_error = 'interrupted: the fetcher stopped while downloading; tried again'
            WHERE status = 'claimed' AND lease_until < @now
            """, new { now = time.GetUtcNow() }, cancellationToken: cancellationToken));
        if (retried > 0)
        {
            LogInterrupted(logger, retried);
        }
    }

    private static bool IsDownloadFailure(Exception ex) =>
        ex is ApiException or TwilioUrlRefusedException or HttpRequestException or IOException or OperationCanceledException or TimeoutException
            or CryptographicException or UriFormatException;

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "Media {MediaId} of message {MessageId} stored ({ContentType}, {Bytes} bytes, attempt {Attempt})")]
    private static partial void LogStored(ILogger logger, long mediaId, long messageId, string contentType, int bytes, int attempt);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Warning, Message = "Media {MediaId} of message {MessageId} refused ({Reason}, {ContentType}); the worker is told")]
    private static partial void LogRefused(ILogger logger, long mediaId, long messageId, string reason, string contentType);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "Media {MediaId} not downloaded (attempt {Attempt}, HTTP {HttpStatus}, {Error}); retrying in {Delay}")]
    private static partial void LogWillRetry(ILogger logger, long mediaId, int attempt, int? httpStatus, string error, TimeSpan delay);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Error, Message = "Media {MediaId} of message {MessageId} failed for good after {Attempts} attempt(s) ({Error}); shown on the complaint")]
    private static partial void LogGaveUp(ILogger logger, long mediaId, long messageId, int attempts, string error);

    [LoggerMessage(EventId = 4024, Level = LogLevel.Warning, Message = "{Count} media download(s) were claimed by a fetcher that stopped; tried again")]
    private static partial void LogInterrupted(ILogger logger, int count);
}

/// <summary>What the worker and the staff are told about an attachment: the replies' purposes and prompts, and the timeline and console event.</summary>
public static class MediaNotices
{
    public const string RefusedType = "media_refused_type";
    public const string TooLarge = "media_too_large";
    public const string Failed = "media_failed";

    public static string PromptKey(string purpose) => purpose switch
    {
        RefusedType => IvrPromptKeys.SmsMediaRefusedType,
        TooLarge => IvrPromptKeys.SmsMediaTooLarge,
        Failed => IvrPromptKeys.SmsMediaFailed,
        _ => throw new ArgumentOutOfRangeException(nameof(purpose), purpose, "Not a media reply."),
    };

    /// <summary>A timeline entry on the complaint, and a <c>message.status</c> live event to the consoles of its language (ids only).</summary>
    public static async Task RecordAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, string languageCode, long messageId, long mediaId,
        string kind, object details, CancellationToken cancellationToken)
    {
        await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, kind, details, cancellationToken);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.MessageStatus, Audience.Language(languageCode), complaintId,
            new { complaintId, messageId, mediaId, kind }, cancellationToken);
    }
}

/// <summary>Runs <see cref="MediaFetcher"/> until the app stops, once the database is migrated.</summary>
public sealed class MediaFetcherService(
    MediaFetcher fetcher, StartupState startup, IOptions<MessagingOptions> options, TimeProvider time, ILogger<MediaFetcherService> logger)
    : QueuePollingService(startup, time, logger)
{
    protected override string QueueName => "Media fetcher";

    protected override bool Enabled => options.Value.MediaFetcherEnabled;

    protected override TimeSpan Interval => options.Value.MediaFetchInterval;

    protected override Task<int> RunRoundAsync(CancellationToken cancellationToken) => fetcher.FetchDueAsync(cancellationToken);
}
