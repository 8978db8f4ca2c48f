using System.Buffers.Binary;
using System.Text.Json;
using Dapper;
using Npgsql;
using WsrHotline.Pii;

namespace WsrHotline.Messaging;

/// <summary>
/// The messaging inbox: the webhook keeps each inbound message here (one row, its contents encrypted
/// as one value) and answers Twilio once the row is committed; <see cref="InboxProcessor"/> does the
/// rest.
/// </summary>
public sealed class Inbox
{
    /// <summary>The advisory lock class of the inbox's per-sender write locks (the two-key space: no other lock uses it).</summary>
    private const int SenderLockClass = 4030;

    private readonly NpgsqlDataSource dataSource;
    private readonly PiiProtector pii;
    private TaskCompletionSource arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Inbox(NpgsqlDataSource dataSource, PiiProtector pii)
    {
        this.dataSource = dataSource;
        this.pii = pii;
    }

    /// <summary>What is encrypted into <c>payload_encrypted</c>.</summary>
    private sealed record Payload(string Channel, string Sender, string Body, int NumMedia, List<PayloadMedia> Media, string? To = null, bool Unconfigured = false);

    private sealed record PayloadMedia(string Url, string ContentType);

    /// <summary>Completes when this instance next commits new rows (then a new task takes its place).</summary>
    public Task NextArrival => Volatile.Read(ref arrival).Task;

    /// <summary>
    /// Keeps the message and returns once its row is committed: true if it is new, false for a
    /// MessageSid already in the inbox (a retried webhook), which changes nothing.
    /// </summary>
    /// <remarks>
    /// One statement: first the sender's advisory lock, then the row, whose <c>received_at</c> is
    /// read from the clock after the lock is held. So a sender's rows commit in the order of their
    /// <c>received_at</c>: the processor, which takes a sender's earliest unfinished row, can never
    /// see a later message before an earlier one has committed. (A text replayed from the outage
    /// spool brings the time it first arrived, and is held until every instance's spool is in.)
    /// </remarks>
    public async Task<bool> KeepAsync(InboundMessage message, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Serialize(new Payload(message.Channel, message.SenderE164, message.Body, message.NumMedia,
            [.. (message.Media ?? []).Select(media => new PayloadMedia(media.Url, media.ContentType))], message.To, message.ToUnconfiguredNumber));
        var senderKey = SenderKey(message.SenderE164);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One statement, so one round trip and its own transaction: the row is selected from the
        // lock's subquery, so received_at is read from the clock once the lock is held, and the lock
        // is released only when the row commits.
        var inserted = await connection.ExecuteScalarAsync<string?>(new CommandDefinition("""
            INSERT INTO inbound_inbox (message_sid, sender_key, payload_encrypted, received_at, next_attempt_at)
            SELECT @MessageSid, @senderKey, @payload, coalesce(@receivedAt, clock_timestamp()), @heldUntil
            FROM (SELECT pg_advisory_xact_lock(@lockClass, @senderLock)) AS sender_lock
            ON CONFLICT (message_sid) DO NOTHING
            RETURNING message_sid
            """,
            new
            {
                message.MessageSid,
                senderKey,
                payload = pii.Encrypt(payload, PiiPurpose.InboxPayload),
                receivedAt = message.Spooled?.ReceivedAt,
                heldUntil = message.Spooled?.HeldUntil,
                lockClass = SenderLockClass,
                senderLock = unchecked((int)senderKey),
            }, cancellationToken: cancellationToken));
        if (inserted is not null)
        {
            // Wakes this instance's processor (other instances find the rows by polling).
            Interlocked.Exchange(ref arrival, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
        return inserted is not null;
    }

    /// <summary>The stored message back, decrypted.</summary>
    public InboundMessage Read(string messageSid, string payloadEncrypted)
    {
        var payload = JsonSerializer.Deserialize<Payload>(pii.Decrypt(payloadEncrypted, PiiPurpose.InboxPayload))
            ?? throw new JsonException("The inbox payload is empty.");
        return new InboundMessage(messageSid, payload.Channel, payload.Sender, payload.Body, payload.NumMedia,
            [.. payload.Media.Select(media => new InboundMedia(media.Url, media.ContentType))])
        {
            To = payload.To,
            ToUnconfiguredNumber = payload.Unconfigured,
        };
    }

    /// <summary>The sender's ordering key: 8 bytes of the keyed lookup hash of their number (the same on every channel).</summary>
    public long SenderKey(string senderE164) =>
        BinaryPrimitives.ReadInt64BigEndian(pii.LookupHash(senderE164, PiiPurpose.CallerPhone));
}
