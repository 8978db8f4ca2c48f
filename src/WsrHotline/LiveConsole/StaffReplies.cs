using Dapper;
using Hangfire;
using Npgsql;
using WsrHotline.Deadlines;
using WsrHotline.Intake;
using WsrHotline.Jobs;
using WsrHotline.Messaging;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;

namespace WsrHotline.LiveConsole;

/// <summary>What became of a reply: the queued message's id, or why it cannot be sent.</summary>
public sealed record ReplyOutcome(long? MessageId, string? Refusal);

/// <summary>
/// An investigator's reply to a worker. It goes through the messaging issue's reliable path: a
/// <c>messages</c> row (encrypted, <c>pending</c>) that the outbound sender sends with retries and
/// the WhatsApp window rules, on the conversation the worker last wrote from.
/// </summary>
public sealed class StaffReplies(NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time, IBackgroundJobClient jobs, ILogger<StaffReplies> logger)
{
    private sealed record Target(long ConversationId, long CallerIdentityId, string Channel, DateTime? OptedOutAt, string LanguageCode);

    public async Task<ReplyOutcome> QueueAsync(long complaintId, int staffId, string body, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var target = await connection.QuerySingleOrDefaultAsync<Target>(new CommandDefinition("""
            SELECT c.id AS conversation_id, c.caller_identity_id, c.channel, c.opted_out_at, k.language_code
            FROM complaints k
            JOIN conversations c ON c.caller_identity_id = k.caller_identity_id
            WHERE k.id = @complaintId
            ORDER BY c.last_inbound_at DESC LIMIT 1
            """, new { complaintId }, transaction, cancellationToken: cancellationToken));
        if (target is null)
        {
            return new ReplyOutcome(null, "This worker has not texted the hotline: there is no conversation to reply on. Call them back instead.");
        }
        if (target.OptedOutAt is not null)
        {
            return new ReplyOutcome(null, "The worker texted STOP: nothing may be sent until they text START.");
        }
        var messageId = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
            INSERT INTO messages (direction, channel, caller_identity_id, complaint_id, conversation_id, body_encrypted,
                                  status, purpose, next_attempt_at)
            VALUES ('outbound', @Channel, @CallerIdentityId, @complaintId, @ConversationId, @body, 'pending', 'staff_reply', now())
            RETURNING id
            """, new { target.Channel, target.CallerIdentityId, complaintId, target.ConversationId, body = pii.Encrypt(body, PiiPurpose.MessageBody) },
            transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE complaints SET last_activity_at = now() WHERE id = @complaintId", new { complaintId }, transaction, cancellationToken: cancellationToken));
        await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Staff, staffId, "message.staff_reply",
            new { message_id = messageId, channel = target.Channel }, cancellationToken);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.MessageStatus, Audience.Language(target.LanguageCode), complaintId,
            new { messageId, complaintId, status = "pending" }, cancellationToken);
        // An investigator writing to the worker is first contact (the clock of that stage is met).
        await ComplaintClocks.MeetFirstContactAsync(connection, transaction, complaintId, time.GetUtcNow(), staffId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        AfterCommit.Enqueue(logger, "a staff reply", () => OutboundSender.Enqueue(jobs, [messageId]));
        return new ReplyOutcome(messageId, null);
    }
}
