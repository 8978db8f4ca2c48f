using System.Security.Cryptography;
using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Exceptions;
using WsrHotline.Database;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Jobs;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>
/// Copies workers' attachments (photos, documents, voice notes) out of Twilio into the hotline's own
/// storage, so the evidence outlives Twilio's copy: downloaded with the account's credentials,
/// encrypted (AES-256-GCM, bound to the row) and stored in <c>message_media</c>. One Hangfire job per
/// attachment; unlike a send, a download can be repeated, so a job whose instance died is simply run
/// again. A failed download goes back to 'pending' and Hangfire retries it with backoff
/// (<see cref="MessagingOptions.MediaMaxAttempts"/>, <see cref="MessagingOptions.MediaRetryBaseDelay"/>);
/// after the last attempt it is shown on the complaint and the worker is told.
/// </summary>
/// <remarks>
/// The intake enqueues the jobs after committing (<see cref="Enqueue"/>); an attachment whose enqueue
/// was lost, or whose job died without a retry, is enqueued again by the recurring <see cref="EnqueueForgottenAsync"/>.
/// Two jobs for one attachment both download it; only the later claim's outcome is kept.
/// </remarks>
public sealed partial class MediaFetcher(
    NpgsqlDataSource dataSource,
    TwilioMediaDownloader downloader,
    PiiProtector pii,
    IvrFlowProvider flows,
    IOptions<MessagingOptions> options,
    TimeProvider time,
    IBackgroundJobClient jobs,
    ILogger<MediaFetcher> logger)
{
    private sealed record Claimed(long Id, long MessageId, string UrlEncrypted, string DeclaredContentType, int Attempts);

    /// <summary>The message an attachment came with: who to tell, and which complaint to show it on.</summary>
    private sealed record Owner(
        long? ComplaintId, string? ComplaintLanguage, string Channel, long IdentityId, long ConversationId, string? ConversationLanguage, bool OptedOut);

    /// <summary>A download still pending a minute after it was due, or claimed ten minutes ago and never finished, has lost its job.</summary>
    public static readonly TimeSpan ForgottenAfter = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(10);

    /// <summary>Enqueues the download job of each attachment, after the transaction that stored them has committed.</summary>
    public static void Enqueue(IBackgroundJobClient jobs, IEnumerable<long> mediaIds)
    {
        foreach (var id in mediaIds)
        {
            jobs.Enqueue<MediaFetcher>(fetcher => fetcher.FetchAsync(id, CancellationToken.None));
        }
    }

    /// <summary>The recurring safety net: a job for each download that lost its own; returns how many.</summary>
    public async Task<int> EnqueueForgottenAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var forgotten = (await connection.QueryAsync<long>(new CommandDefinition("""
            SELECT id FROM message_media
            WHERE (status = 'pending' AND next_attempt_at < @pendingBefore) OR (status = 'claimed' AND updated_at < @claimedBefore)
            ORDER BY id
            """, new { pendingBefore = now - ForgottenAfter, claimedBefore = now - AbandonedAfter }, cancellationToken: cancellationToken))).ToList();
        Enqueue(jobs, forgotten);
        return forgotten.Count;
    }

    /// <summary>The Hangfire job: downloads attachment <paramref name="mediaId"/> unless it is already stored, refused or failed.</summary>
    public async Task FetchAsync(long mediaId, CancellationToken cancellationToken)
    {
        if (await ClaimAsync(mediaId, cancellationToken) is { } row)
        {
            await FetchAsync(row, cancellationToken);
        }
    }

    private async Task<Claimed?> ClaimAsync(long mediaId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition("""
            UPDATE message_media SET status = 'claimed', attempts = attempts + 1, updated_at = now()
            WHERE id = @mediaId AND status IN ('pending', 'claimed')
            RETURNING id, message_id, url_encrypted, declared_content_type, attempts
            """, new { mediaId }, cancellationToken: cancellationToken));
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
        var told = await TellWorkerAsync(connection, transaction, owner, row, reason == "size" ? MediaNotices.TooLarge : MediaNotices.RefusedType,
            "refused", reason, cancellationToken);
        await NoticeAsync(connection, transaction, owner, row, "media.refused",
            new { message_id = row.MessageId, media_id = row.Id, status = "refused", reason, content_type = type },
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        OutboundSender.Enqueue(jobs, told);
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
                UPDATE message_media SET status = 'pending', next_attempt_at = @next, last_error = @error, updated_at = now()
                WHERE id = @Id AND status = 'claimed' AND attempts = @Attempts
                """, new { row.Id, row.Attempts, next = time.GetUtcNow() + delay, error }, cancellationToken: cancellationToken));
            LogWillRetry(logger, row.Id, row.Attempts, TwilioFailures.HttpStatus(ex), error, delay);
            throw new JobWillRetryException($"Media {row.Id} not downloaded ({error}); tried again.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var owner = await OwnerAsync(connection, transaction, row.MessageId, cancellationToken);
        if (!await FinishAsync(connection, transaction, row, "failed", null, null, null, null, error, cancellationToken))
        {
            return;
        }
        var told = await TellWorkerAsync(connection, transaction, owner, row, MediaNotices.Failed, "failed", null, cancellationToken);
        await NoticeAsync(connection, transaction, owner, row, "media.failed",
            new { message_id = row.MessageId, media_id = row.Id, status = "failed", attempts = row.Attempts, error },
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        OutboundSender.Enqueue(jobs, told);
        LogGaveUp(logger, row.Id, row.MessageId, row.Attempts, error);
        throw new JobGaveUpException($"Media {row.Id} failed after {row.Attempts} attempt(s) ({error}).");
    }

    /// <summary>
    /// Ends this claim (only if it is still this fetcher's: same attempt, still claimed). False when
    /// another job for the same attachment has claimed it since: then nothing is written.
    /// </summary>
    private static async Task<bool> FinishAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, string status, string? reason, string? type,
        long? size, byte[]? content, string? error, CancellationToken cancellationToken)
    {
        var changed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE message_media
            SET status = @status, refused_reason = @reason, content_type = @type, size_bytes = @size, content_encrypted = @content,
                last_error = @error, fetched_at = CASE WHEN @content IS NULL THEN NULL ELSE now() END, updated_at = now()
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

    /// <summary>Queues the reply unless the worker was already told the same about another attachment of this message; returns the replies to send.</summary>
    private async Task<IReadOnlyList<long>> TellWorkerAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Owner owner, Claimed row, string purpose, string status, string? reason,
        CancellationToken cancellationToken)
    {
        var alreadyTold = await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM message_media
                           WHERE message_id = @MessageId AND id <> @Id AND status = @status AND refused_reason IS NOT DISTINCT FROM @reason)
            """, new { row.MessageId, row.Id, status, reason }, transaction, cancellationToken: cancellationToken));
        if (alreadyTold)
        {
            return [];
        }
        var flow = flows.Current;
        var language = owner.ConversationLanguage ?? flow.DefaultLanguage.Code;
        return await Replies.QueueAsync(connection, transaction, pii,
            new ReplyTarget(owner.Channel, owner.IdentityId, owner.ConversationId, owner.ComplaintId, owner.OptedOut),
            [new Reply(purpose, flow.RenderText(language, MediaNotices.PromptKey(purpose)))], cancellationToken);
    }

    private static Task NoticeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Owner owner, Claimed row, string kind, object details,
        CancellationToken cancellationToken) =>
        owner is { ComplaintId: { } complaintId, ComplaintLanguage: { } language }
            ? MediaNotices.RecordAsync(connection, transaction, complaintId, language, row.MessageId, row.Id, kind, details, cancellationToken)
            : Task.CompletedTask;

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
