using Dapper;
using Npgsql;
using WsrHotline.Pii;

namespace WsrHotline.Messaging;

/// <summary>
/// A stored attachment, decrypted, for an authorized staff endpoint to stream. <see cref="ComplaintId"/>
/// is what the endpoint must check the staff member may see (null: the message is not on a complaint
/// yet, e.g. the worker has not chosen a language).
/// </summary>
public sealed class DecryptedMedia(long mediaId, long messageId, long? complaintId, string contentType, byte[] content)
{
    // A class, not a record: a record's ToString would print the worker's file into a log.
    public long MediaId { get; } = mediaId;

    public long MessageId { get; } = messageId;

    public long? ComplaintId { get; } = complaintId;

    /// <summary>The type the file was downloaded with (one of <see cref="MessagingOptions.MediaAllowedTypes"/>).</summary>
    public string ContentType { get; } = contentType;

    public ReadOnlyMemory<byte> Content { get; } = content;
}

/// <summary>
/// Reads workers' attachments back from their encrypted storage (<c>message_media.content_encrypted</c>).
/// The endpoint that serves them to the console must require a signed-in investigator allowed to see
/// the complaint, send <c>X-Content-Type-Options: nosniff</c> and <c>Content-Disposition: attachment</c>
/// for anything but images, audio and video, and log the media id only.
/// </summary>
public sealed class MediaStore(NpgsqlDataSource dataSource, PiiProtector pii)
{
    /// <summary>The file, decrypted; null when there is no such attachment or it is not stored (pending, refused, failed).</summary>
    public async Task<DecryptedMedia?> OpenDecryptedAsync(long mediaId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(long MessageId, long? ComplaintId, string ContentType, byte[] Content)?>(new CommandDefinition("""
            SELECT mm.message_id, m.complaint_id, mm.content_type, mm.content_encrypted
            FROM message_media mm JOIN messages m ON m.id = mm.message_id
            WHERE mm.id = @mediaId AND mm.status = 'stored'
            """, new { mediaId }, cancellationToken: cancellationToken));
        return row is { } media
            ? new DecryptedMedia(mediaId, media.MessageId, media.ComplaintId, media.ContentType,
                pii.DecryptBytes(media.Content, PiiPurpose.MediaContent(mediaId)))
            : null;
    }
}
