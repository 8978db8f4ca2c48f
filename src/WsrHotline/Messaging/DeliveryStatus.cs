using Dapper;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>Twilio's delivery reports for the replies (the StatusCallback of each sent message).</summary>
public static class DeliveryStatus
{
    private sealed record Changed(long Id, long? ComplaintId, long? ConversationId, string? LanguageCode);

    /// <summary>Twilio's message statuses in the order they can happen; a report never moves a message back.</summary>
    public static short Rank(string? status) => status switch
    {
        "accepted" or "scheduled" or "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" or "undelivered" or "failed" or "canceled" => 4,
        // WhatsApp: the worker opened it.
        "read" => 5,
        _ => 0,
    };

    /// <summary>
    /// Applies a report to the message with this MessageSid, with a <c>message.delivery</c> entry on
    /// its complaint; a repeated or late one (not above the current rank) changes nothing. Error
    /// 21610 (the worker opted out with the carrier) opts the conversation out. Returns whether it applied.
    /// </summary>
    public static async Task<bool> ApplyAsync(
        NpgsqlDataSource dataSource, string messageSid, string status, int? errorCode, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var changed = await connection.QuerySingleOrDefaultAsync<Changed?>(new CommandDefinition("""
            UPDATE messages SET status = @status, status_rank = @rank, error_code = coalesce(@errorCode, error_code), updated_at = now()
            WHERE message_sid = @messageSid AND direction = 'outbound' AND status_rank < @rank
            RETURNING id, complaint_id, conversation_id,
                      (SELECT language_code FROM conversations c WHERE c.id = messages.conversation_id) AS language_code
            """, new { messageSid, status, rank = Rank(status), errorCode }, transaction, cancellationToken: cancellationToken));
        if (changed is not { } row)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }
        if (row.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.delivery",
                new { message_sid = messageSid, status, error_code = errorCode }, cancellationToken);
        }
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.MessageStatus, Audience.Language(row.LanguageCode ?? "en"),
            row.ComplaintId, new { messageId = row.Id, complaintId = row.ComplaintId, status, errorCode }, cancellationToken);
        if (errorCode == TwilioErrorCodes.RecipientOptedOut && row.ConversationId is { } conversationId)
        {
            await OptOutAsync(connection, conversationId, row.ComplaintId, "twilio_21610", cancellationToken, transaction);
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Marks a conversation opted out (once), with a timeline entry on its complaint.</summary>
    public static async Task OptOutAsync(
        NpgsqlConnection connection, long conversationId, long? complaintId, string by, CancellationToken cancellationToken,
        NpgsqlTransaction? transaction = null)
    {
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE conversations SET opted_out_at = now() WHERE id = @conversationId AND opted_out_at IS NULL",
            new { conversationId }, transaction, cancellationToken: cancellationToken));
        if (changed > 0 && complaintId is { } complaint)
        {
            await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, null, "messaging.opted_out",
                new { by }, cancellationToken);
        }
    }
}
