using Dapper;
using Npgsql;
using WsrHotline.Pii;

namespace WsrHotline.Messaging;

/// <summary>A text the hotline will send: its purpose (welcome, status, media_refused…) and words.</summary>
public sealed record Reply(string Purpose, string Text);

/// <summary>The worker's conversation a reply goes to, and the complaint it is about (if any).</summary>
public sealed record ReplyTarget(string Channel, long IdentityId, long ConversationId, long? ComplaintId, bool OptedOut);

/// <summary>
/// Writes replies into the outbound queue (<c>messages</c>, status 'pending', body encrypted) for
/// <see cref="OutboundSender"/>, in the caller's transaction. To a worker who opted out they are kept as
/// 'suppressed', never sent; STOP's own confirmation is the one exception.
/// </summary>
public static class Replies
{
    /// <summary>The purpose of the confirmation sent after STOP.</summary>
    public const string StoppedPurpose = "stopped";

    /// <summary>Queues <paramref name="replies"/>; returns the ids of those to send (not the suppressed ones), for <see cref="OutboundSender.Enqueue"/> after the commit.</summary>
    public static async Task<IReadOnlyList<long>> QueueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, PiiProtector pii, ReplyTarget target,
        IReadOnlyList<Reply> replies, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pii);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(replies);
        if (replies.Count == 0)
        {
            return [];
        }

        // One statement for all of them; WITH ORDINALITY keeps their order in the ids.
        var pending = await connection.QueryAsync<long>(new CommandDefinition("""
            WITH inserted AS (
            INSERT INTO messages (direction, channel, caller_identity_id, complaint_id, conversation_id, body_encrypted,
                                  status, purpose, next_attempt_at)
            SELECT 'outbound', @Channel, @IdentityId, @ComplaintId, @ConversationId, r.body, r.status, r.purpose, now()
            FROM unnest(@bodies, @statuses, @purposes) WITH ORDINALITY AS r (body, status, purpose, n)
            ORDER BY r.n
            RETURNING id, status
            )
            SELECT id FROM inserted WHERE status = 'pending' ORDER BY id
            """,
            new
            {
                target.Channel,
                target.IdentityId,
                target.ComplaintId,
                target.ConversationId,
                bodies = replies.Select(reply => pii.Encrypt(reply.Text, PiiPurpose.MessageBody)).ToArray(),
                statuses = replies.Select(reply => target.OptedOut && reply.Purpose != StoppedPurpose ? "suppressed" : "pending").ToArray(),
                purposes = replies.Select(reply => reply.Purpose).ToArray(),
            }, transaction, cancellationToken: cancellationToken));
        return [.. pending];
    }
}
