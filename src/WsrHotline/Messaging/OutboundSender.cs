using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>
/// Sends the replies the intake queued. A row is claimed ('claimed', with a lease) in one short
/// transaction with <c>FOR UPDATE SKIP LOCKED</c>, so any number of instances share the queue and
/// none sends a row another has claimed. Sending is at most once: a claim whose sender stopped
/// mid-send is marked failed, never sent again, because Twilio may already have taken it.
/// A WhatsApp reply outside the 24-hour window goes as the configured template, never as free text.
/// </summary>
public sealed partial class OutboundSender(
    NpgsqlDataSource dataSource,
    TwilioRestClient twilio,
    PiiProtector pii,
    IvrFlowProvider flows,
    IOptions<HotlineOptions> hotline,
    IOptions<TwilioOptions> twilioOptions,
    IOptions<MessagingOptions> options,
    TimeProvider time,
    ILogger<OutboundSender> logger)
{
    private sealed record Claimed(
        long Id, string Channel, long? ComplaintId, long ConversationId, string BodyEncrypted, string Purpose,
        int Attempts, string PhoneEncrypted, bool OptedOut, DateTime LastInboundAt, string? LanguageCode, string? CaseNumber);

    /// <summary>WhatsApp allows free text only this long after the worker's last message.</summary>
    public static readonly TimeSpan WhatsAppWindow = TimeSpan.FromHours(24);

    /// <summary>Sends one batch of due replies; returns how many were claimed.</summary>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        await FailInterruptedAsync(cancellationToken);
        var claimed = await ClaimAsync(cancellationToken);
        foreach (var row in claimed)
        {
            await SendAsync(row, cancellationToken);
        }
        return claimed.Count;
    }

    private async Task<List<Claimed>> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<Claimed>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM messages
                WHERE direction = 'outbound' AND status = 'pending' AND next_attempt_at <= @now
                ORDER BY next_attempt_at, id
                LIMIT @batch
                FOR UPDATE SKIP LOCKED
            )
            UPDATE messages m
            SET status = 'claimed', lease_until = @leaseUntil, attempts = m.attempts + 1, updated_at = now()
            FROM due, conversations c, caller_identities ci
            WHERE m.id = due.id AND c.id = m.conversation_id AND ci.id = m.caller_identity_id
            RETURNING m.id, m.channel, m.complaint_id, m.conversation_id, m.body_encrypted, m.purpose, m.attempts,
                      ci.phone_encrypted, c.opted_out_at IS NOT NULL AS opted_out, c.last_inbound_at, c.language_code,
                      (SELECT case_number FROM complaints WHERE id = m.complaint_id) AS case_number
            """,
            new { now, batch = options.Value.SendBatchSize, leaseUntil = now + options.Value.SendLease },
            cancellationToken: cancellationToken));
        return [.. rows.OrderBy(row => row.Id)];
    }

    private async Task SendAsync(Claimed row, CancellationToken cancellationToken)
    {
        // STOP's own confirmation is the one text that goes to a worker who has just opted out.
        if (row.OptedOut && row.Purpose != Replies.StoppedPurpose)
        {
            await FinishAsync(row.Id, "suppressed", null, null, null, cancellationToken);
            LogSuppressed(logger, row.Id);
            return;
        }

        var whatsApp = row.Channel == Channels.WhatsApp;
        WhatsAppTemplates.Choice? template = null;
        string? variables = null;
        if (whatsApp && time.GetUtcNow() - new DateTimeOffset(row.LastInboundAt, TimeSpan.Zero) > WhatsAppWindow)
        {
            // Outside the window only an approved template may go, never free text.
            var language = row.LanguageCode ?? flows.Current.DefaultLanguage.Code;
            template = WhatsAppTemplates.Find(options.Value, row.Purpose, language);
            variables = template is null ? null : WhatsAppTemplates.Variables(template.Template, row.CaseNumber);
            if (template is null || variables is null)
            {
                var reason = template is null
                    ? $"outside the WhatsApp 24-hour window and no approved template for purpose '{row.Purpose}' in language '{language}' " +
                      $"(set Messaging:WhatsAppTemplates:{row.Purpose}:{language} or Messaging:WhatsAppTemplates:{WhatsAppTemplates.DefaultPurpose}:{language})"
                    : $"outside the WhatsApp 24-hour window: the template {template.Key} needs the case number, and this reply belongs to no complaint";
                await FinishAsync(row.Id, "failed", TwilioErrorCodes.WhatsAppOutsideSessionWindow, reason, row, cancellationToken);
                LogOutsideWhatsAppWindow(logger, row.Id, row.Purpose, language);
                return;
            }
        }
        var number = pii.Decrypt(row.PhoneEncrypted, PiiPurpose.CallerPhone);
        var publicBase = twilioOptions.Value.PublicBaseUrl;
        try
        {
            var sent = await twilio.SendMessageAsync(new OutboundMessage
            {
                To = whatsApp ? "whatsapp:" + number : number,
                From = whatsApp ? hotline.Value.WhatsAppSender : hotline.Value.SmsNumber,
                Body = template is null ? pii.Decrypt(row.BodyEncrypted, PiiPurpose.MessageBody) : null,
                ContentSid = template?.Template.ContentSid,
                // A template without variables needs none.
                ContentVariables = variables is "{}" ? null : variables,
                StatusCallback = string.IsNullOrEmpty(publicBase) ? null : new Uri(publicBase.TrimEnd('/') + MessagingEndpoints.Prefix + "/status"),
            }, cancellationToken);
            await RecordSentAsync(row, sent, template, cancellationToken);
            LogSent(logger, row.Id, sent.Sid, row.Attempts);
        }
        catch (TwilioApiException ex) when (ex.IsOptOut)
        {
            await FinishAsync(row.Id, "failed", ex.ErrorCode, "twilio: recipient opted out (21610)", row, cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await DeliveryStatus.OptOutAsync(connection, row.ConversationId, row.ComplaintId, "twilio_21610", cancellationToken);
            LogOptedOutByTwilio(logger, row.Id);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is TwilioApiException or HttpRequestException or TaskCanceledException)
        {
            // Never the exception's message: Twilio's error texts quote the number.
            var apiError = ex as TwilioApiException;
            var error = apiError is null ? $"{ex.GetType().Name}" : $"twilio: HTTP {apiError.HttpStatus}, error {apiError.ErrorCode}";
            var retriable = apiError is null || apiError.HttpStatus >= 500 || apiError.HttpStatus == 429;
            if (retriable && row.Attempts < options.Value.SendMaxAttempts)
            {
                var delay = options.Value.SendRetryBaseDelay * Math.Pow(2, row.Attempts - 1);
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE messages SET status = 'pending', next_attempt_at = @next, lease_until = NULL, last_error = @error,
                                        updated_at = now()
                    WHERE id = @id
                    """, new { id = row.Id, next = time.GetUtcNow() + delay, error }, cancellationToken: cancellationToken));
                LogWillRetry(logger, row.Id, row.Attempts, apiError?.HttpStatus, apiError?.ErrorCode, delay);
            }
            else
            {
                await FinishAsync(row.Id, "failed", apiError?.ErrorCode, error, row, cancellationToken);
                LogGaveUp(logger, row.Id, row.Attempts, apiError?.HttpStatus, apiError?.ErrorCode);
            }
        }
    }

    /// <summary>Twilio took the reply: its sid and first status; a template is on the complaint's timeline (<c>message.template</c>).</summary>
    private async Task RecordSentAsync(Claimed row, MessageResource sent, WhatsAppTemplates.Choice? template, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE messages SET message_sid = @Sid, status = @status, status_rank = @rank, error_code = @ErrorCode, content_sid = @contentSid,
                                sent_at = now(), lease_until = NULL, updated_at = now()
            WHERE id = @id
            """,
            new
            {
                id = row.Id,
                sent.Sid,
                status = string.IsNullOrEmpty(sent.Status) ? "queued" : sent.Status,
                rank = DeliveryStatus.Rank(sent.Status),
                sent.ErrorCode,
                contentSid = template?.Template.ContentSid,
            }, transaction, cancellationToken: cancellationToken));
        if (template is not null && row.ComplaintId is { } complaintId)
        {
            // The worker got the template's words, not the reply's: the console must be able to tell.
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.template",
                new { message_id = row.Id, message_sid = sent.Sid, purpose = row.Purpose, template = template.Key, content_sid = template.Template.ContentSid },
                cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Ends a row; a failure is on the complaint's timeline (kind <c>message.failed</c>).</summary>
    private async Task FinishAsync(long id, string status, int? errorCode, string? error, Claimed? failed, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE messages SET status = @status, error_code = @errorCode, last_error = @error, lease_until = NULL, updated_at = now()
            WHERE id = @id
            """, new { id, status, errorCode, error }, transaction, cancellationToken: cancellationToken));
        if (failed?.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.failed",
                new { message_id = id, purpose = failed.Purpose, attempts = failed.Attempts, error_code = errorCode, error }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Claims older than their lease: the sender stopped mid-send. Marked failed, not resent.</summary>
    private async Task FailInterruptedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var interrupted = (await connection.QueryAsync<(long Id, long? ComplaintId, string Purpose)>(new CommandDefinition("""
            UPDATE messages SET status = 'failed', lease_until = NULL, updated_at = now(),
                                last_error = 'interrupted: the sender stopped while sending; not resent, it may have gone out'
            WHERE direction = 'outbound' AND status = 'claimed' AND lease_until < @now
            RETURNING id, complaint_id, purpose
            """, new { now = time.GetUtcNow() }, transaction, cancellationToken: cancellationToken))).ToList();
        foreach (var (id, complaintId, purpose) in interrupted)
        {
            if (complaintId is { } complaint)
            {
                await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, null, "message.failed",
                    new { message_id = id, purpose, error = "interrupted" }, cancellationToken);
            }
            LogInterrupted(logger, id);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "Reply {MessageId} sent as {MessageSid} (attempt {Attempt})")]
    private static partial void LogSent(ILogger logger, long messageId, string messageSid, int attempt);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Reply {MessageId} not sent (attempt {Attempt}, HTTP {HttpStatus}, Twilio error {ErrorCode}); retrying in {Delay}")]
    private static partial void LogWillRetry(ILogger logger, long messageId, int attempt, int? httpStatus, int? errorCode, TimeSpan delay);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Error, Message = "Reply {MessageId} failed for good after {Attempts} attempt(s) (HTTP {HttpStatus}, Twilio error {ErrorCode})")]
    private static partial void LogGaveUp(ILogger logger, long messageId, int attempts, int? httpStatus, int? errorCode);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning, Message = "Reply {MessageId} refused by Twilio: the worker opted out (21610); the conversation is marked opted out")]
    private static partial void LogOptedOutByTwilio(ILogger logger, long messageId);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Information, Message = "Reply {MessageId} suppressed: the worker opted out")]
    private static partial void LogSuppressed(ILogger logger, long messageId);

    [LoggerMessage(EventId = 4017, Level = LogLevel.Warning, Message = "Reply {MessageId} not sent: the worker's last WhatsApp message is more than 24 hours old, free text is not allowed then, and there is no usable template for purpose {Purpose} in {Language}")]
    private static partial void LogOutsideWhatsAppWindow(ILogger logger, long messageId, string purpose, string language);

    [LoggerMessage(EventId = 4015, Level = LogLevel.Error, Message = "Reply {MessageId} was claimed by a sender that stopped mid-send; marked failed, not resent")]
    private static partial void LogInterrupted(ILogger logger, long messageId);
}

/// <summary>Runs <see cref="OutboundSender"/> until the app stops, once the database is migrated.</summary>
public sealed partial class OutboundSenderService(
    OutboundSender sender, StartupState startup, IOptions<MessagingOptions> options, IvrFlowProvider flows, TimeProvider time,
    ILogger<OutboundSenderService> logger)
    : QueuePollingService(startup, time, logger)
{
    protected override string QueueName => "Outbound sender";

    protected override bool Enabled => options.Value.SenderEnabled;

    protected override TimeSpan Interval => options.Value.SendInterval;

    protected override Task<int> RunRoundAsync(CancellationToken cancellationToken) => sender.SendDueAsync(cancellationToken);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Outside Production a missing template is only this warning (Production refuses to start).
        var missing = WhatsAppTemplates.MissingDefaults(options.Value, flows.Current.Languages.Select(language => language.Code));
        if (Enabled && missing.Count > 0)
        {
            LogTemplatesMissing(logger, string.Join(", ", missing));
        }
        return base.ExecuteAsync(stoppingToken);
    }

    [LoggerMessage(EventId = 4018, Level = LogLevel.Warning, Message = "No default WhatsApp template for some hotline languages: a WhatsApp reply more than 24 hours after the worker's last message will fail in them. Set {Keys}")]
    private static partial void LogTemplatesMissing(ILogger logger, string keys);
}
