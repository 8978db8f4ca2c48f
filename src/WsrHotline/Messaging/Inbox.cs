using System.Buffers.Binary;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using WsrHotline.Database;
using WsrHotline.Pii;

namespace WsrHotline.Messaging;

/// <summary>
/// The messaging inbox: the webhook keeps each inbound message here (one row, its contents encrypted
/// as one value) and answers Twilio once the row is committed; <see cref="InboxProcessor"/> does the
/// rest. Rows of concurrent webhooks share one statement and commit (<see cref="SharedStatement{TItem, TResult}"/>).
/// </summary>
public sealed class Inbox
{
    /// <summary>The advisory lock class of the inbox's per-sender write locks (the two-key space: no other lock uses it).</summary>
    private const int SenderLockClass = 4030;

    private readonly NpgsqlDataSource dataSource;
    private readonly PiiProtector pii;
    private readonly SharedStatement<Row, string> writes;
    private TaskCompletionSource arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int keeping;

    public Inbox(NpgsqlDataSource dataSource, PiiProtector pii)
    {
        this.dataSource = dataSource;
        this.pii = pii;
        writes = new SharedStatement<Row, string>(InsertAsync, row => row.MessageSid);
    }

    private sealed record Row(string MessageSid, long SenderKey, string Payload, DateTimeOffset? ReceivedAt, DateTimeOffset? HeldUntil);

    /// <summary>What is encrypted into <c>payload_encrypted</c>.</summary>
    private sealed record Payload(string Channel, string Sender, string Body, int NumMedia, List<PayloadMedia> Media, string? To = null, bool Unconfigured = false);

    private sealed record PayloadMedia(string Url, string ContentType);

    /// <summary>Completes when this instance next commits new rows (then a new task takes its place).</summary>
    public Task NextArrival => Volatile.Read(ref arrival).Task;

    /// <summary>How many webhooks of this instance are waiting for their messages to be kept right now.</summary>
    public int Keeping => Volatile.Read(ref keeping);

    /// <summary>
    /// Keeps the message and returns once its row is committed: true if it is new, false for a
    /// MessageSid already in the inbox (a retried webhook), which changes nothing.
    /// </summary>
    public async Task<bool> KeepAsync(InboundMessage message, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Serialize(new Payload(message.Channel, message.SenderE164, message.Body, message.NumMedia,
            [.. (message.Media ?? []).Select(media => new PayloadMedia(media.Url, media.ContentType))], message.To, message.ToUnconfiguredNumber));
        Interlocked.Increment(ref keeping);
        try
        {
            var inserted = await writes.RunAsync(
                new Row(message.MessageSid, SenderKey(message.SenderE164), pii.Encrypt(payload, PiiPurpose.InboxPayload),
                    message.Spooled?.ReceivedAt, message.Spooled?.HeldUntil), cancellationToken);
            return inserted is not null;
        }
        finally
        {
            Interlocked.Decrement(ref keeping);
        }
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

    /// <summary>
    /// One transaction (a batch of two statements, one round trip): first the per-sender advisory
    /// locks, in key order (no deadlock between two batches), then the rows. A sender's rows
    /// therefore take their ids and commit one batch after the other, so for one sender id order is
    /// commit order: the processor, which takes a sender's lowest unfinished id, can never see a later
    /// message before an earlier one has committed.
    /// </summary>
    /// <returns>The MessageSids inserted, each keyed by itself (a retried MessageSid is missing).</returns>
    private async Task<IReadOnlyDictionary<string, string>> InsertAsync(IReadOnlyList<Row> rows)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(@class, k) FROM unnest(@locks) AS k")
                {
                    Parameters =
                    {
                        new NpgsqlParameter<int>("class", SenderLockClass),
                        new NpgsqlParameter<int[]>("locks", [.. rows.Select(row => unchecked((int)row.SenderKey)).Distinct().Order()]),
                    },
                },
                new NpgsqlBatchCommand("""
                    INSERT INTO inbound_inbox (message_sid, sender_key, payload_encrypted, received_at, next_attempt_at)
                    SELECT sid, sender, payload, coalesce(received, clock_timestamp()), held
                    FROM unnest(@sids, @keys, @payloads, @received, @held) AS r (sid, sender, payload, received, held)
                    ON CONFLICT (message_sid) DO NOTHING
                    RETURNING message_sid
                    """)
                {
                    Parameters =
                    {
                        new NpgsqlParameter<string[]>("sids", [.. rows.Select(row => row.MessageSid)]) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                        new NpgsqlParameter<long[]>("keys", [.. rows.Select(row => row.SenderKey)]),
                        new NpgsqlParameter<string[]>("payloads", [.. rows.Select(row => row.Payload)]) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                        new NpgsqlParameter<DateTime?[]>("received", [.. rows.Select(row => row.ReceivedAt?.UtcDateTime)]) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz },
                        new NpgsqlParameter<DateTime?[]>("held", [.. rows.Select(row => row.HeldUntil?.UtcDateTime)]) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz },
                    },
                },
            },
        };
        var inserted = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var reader = await batch.ExecuteReaderAsync())
        {
            await reader.NextResultAsync();
            while (await reader.ReadAsync())
            {
                var sid = reader.GetString(0);
                inserted[sid] = sid;
            }
        }
        if (inserted.Count > 0)
        {
            // Wakes this instance's processor (other instances find the rows by polling).
            Interlocked.Exchange(ref arrival, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
        return inserted;
    }
}
