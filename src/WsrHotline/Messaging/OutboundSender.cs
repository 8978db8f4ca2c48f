using Dapper;
using Hangfire;
using Hangfire.Server;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;
using WsrHotline.Database;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Jobs;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>
/// Sends the replies the hotline queued (rows of <c>messages</c>, outbound, 'pending') in Hangfire
/// jobs (<see cref="SendJobAsync"/>: a text's replies in one, in order), each at most once:
/// <list type="number">
/// <item>lock the row and decide what goes (suppressed after STOP, a WhatsApp template outside the 24-hour window);</item>
/// <item>mark it <c>handing_over</c>, with this job's id, in its own commit, just before its POST to Twilio;</item>
/// <item>POST, then record the outcome.</item>
/// </list>
/// A job whose instance dies (kill -9, a lost database) between the POST and the record is run again
/// by Hangfire with the same job id; finding its own hand-over, it marks the reply failed, never
/// resends it, since Twilio may have taken it (its Messages API has no idempotency key). An error
/// resends a reply only when it proves Twilio did not take it (429, or no connection made): the row
/// goes back to 'pending' and Hangfire retries the job after the backoff (<see cref="MessagingOptions.SendMaxAttempts"/>,
/// <see cref="MessagingOptions.SendRetryBaseDelay"/>). A 5xx, a timeout or a connection lost mid-request
/// may have reached Twilio, and fails the reply instead (on the complaint's timeline, and in Hangfire's
/// Failed list). A WhatsApp reply outside the 24-hour window goes as the configured template, never as free text.
/// </summary>
/// <remarks>
/// Whoever queues replies enqueues their jobs after committing (<see cref="Enqueue"/>); a reply whose
/// enqueue was lost (a crash between the commit and the enqueue) is enqueued by the recurring
/// <see cref="EnqueueForgottenAsync"/>. A second job for a reply finds it taken and does nothing.
/// </remarks>
public sealed partial class OutboundSender(
    NpgsqlDataSource dataSource,
    ITwilioRestClient twilio,
    PiiProtector pii,
    IvrFlowProvider flows,
    IOptions<HotlineOptions> hotline,
    IOptions<TwilioOptions> twilioOptions,
    IOptions<MessagingOptions> options,
    TimeProvider time,
    IBackgroundJobClient jobs,
    ILogger<OutboundSender> logger)
{
    /// <summary>A reply this job is sending.</summary>
    private sealed record Claimed(
        long Id, string Status, string? HandedOverBy, string Channel, long? ComplaintId, long ConversationId, string BodyEncrypted, string Purpose,
        int Attempts, string PhoneEncrypted, bool OptedOut, DateTime LastInboundAt, string? LanguageCode, string? CaseNumber, string? HotlineNumber);

    /// <summary>WhatsApp allows free text only this long after the worker's last message.</summary>
    public static readonly TimeSpan WhatsAppWindow = TimeSpan.FromHours(24);

    /// <summary>A reply still pending this long after it was due has lost its job, and gets one again.</summary>
    public static readonly TimeSpan ForgottenAfter = TimeSpan.FromMinutes(1);

    /// <summary>How long to wait before writing again to a database that failed a write this job must make.</summary>
    private static readonly TimeSpan RewriteDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a write only this job can make (its attempt's outcome) is tried against a database that is down.</summary>
    private static readonly TimeSpan RewriteFor = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Enqueues one send job for replies queued together (a text's replies), after the transaction
    /// that queued them has committed: the job sends them in the order they were written.
    /// </summary>
    public static void Enqueue(IBackgroundJobClient jobs, IReadOnlyList<long> messageIds)
    {
        if (messageIds.Count > 0)
        {
            var ids = messageIds.ToArray();
            jobs.Enqueue<OutboundSender>(sender => sender.SendJobAsync(ids, null!, CancellationToken.None));
        }
    }

    /// <summary>The recurring safety net: a job for each reply still pending a minute after it was due; returns how many.</summary>
    public async Task<int> EnqueueForgottenAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var forgotten = (await connection.QueryAsync<long>(new CommandDefinition("""
            SELECT id FROM messages WHERE direction = 'outbound' AND status = 'pending' AND next_attempt_at < @before ORDER BY id
            """, new { before = time.GetUtcNow() - ForgottenAfter }, cancellationToken: cancellationToken))).ToList();
        foreach (var id in forgotten)
        {
            Enqueue(jobs, [id]);
        }
        return forgotten.Count;
    }

    /// <summary>
    /// The Hangfire job: sends the replies in order (Hangfire passes its context, for the job's id, and
    /// the server's shutdown token). A reply to be tried again stops the job there, so the later ones
    /// wait for it (Hangfire retries the job; the replies already sent are skipped); one that gave up
    /// does not hold back the next, and the job ends in Hangfire's Failed list.
    /// </summary>
    public async Task SendJobAsync(long[] messageIds, PerformContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        JobGaveUpException? gaveUp = null;
        foreach (var id in messageIds)
        {
            try
            {
                await SendAsync(id, context.BackgroundJob.Id, cancellationToken);
            }
            catch (JobGaveUpException ex)
            {
                gaveUp = ex;
            }
        }
        if (gaveUp is not null)
        {
            throw gaveUp;
        }
    }

    /// <summary>Sends reply <paramref name="messageId"/> as attempt of job <paramref name="jobId"/> (see the class's summary).</summary>
    public async Task SendAsync(long messageId, string jobId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition("""
            SELECT m.id, m.status, m.handed_over_by, m.channel, m.complaint_id, m.conversation_id, m.body_encrypted, m.purpose, m.attempts,
                   ci.phone_encrypted, c.opted_out_at IS NOT NULL AS opted_out, c.last_inbound_at, c.language_code,
                   (SELECT case_number FROM complaints WHERE id = m.complaint_id) AS case_number, c.hotline_number
            FROM messages m
            JOIN conversations c ON c.id = m.conversation_id
            JOIN caller_identities ci ON ci.id = m.caller_identity_id
            WHERE m.id = @messageId AND m.direction = 'outbound'
            FOR UPDATE OF m
            """, new { messageId }, transaction, cancellationToken: cancellationToken));
        if (row is { Status: "handing_over" } && row.HandedOverBy == jobId)
        {
            // This job's earlier run handed it to Twilio and stopped before it knew the outcome.
            await transaction.RollbackAsync(cancellationToken);
            await FinishAsync(row, "failed", null, "interrupted: the sender stopped while handing it to Twilio; not resent, it may have gone out", cancellationToken);
            LogInterrupted(logger, row.Id);
            throw new JobGaveUpException($"Reply {row.Id} was being handed to Twilio when this job stopped; not resent.");
        }
        if (row is not { Status: "pending" })
        {
            // Sent, failed or suppressed already, or another job is handing it over now.
            return;
        }
        var message = await PrepareAsync(connection, transaction, row, cancellationToken);
        if (message is null)
        {
            return;
        }
        var handedOver = await HandOverAsync(connection, transaction, row, jobId, cancellationToken);
        await PostAsync(handedOver, message.Value.Message, message.Value.Template, cancellationToken);
    }

    /// <summary>
    /// What goes to Twilio, or null when nothing does: a reply to a worker who opted out is suppressed,
    /// a WhatsApp reply outside the window without a usable template fails. Those end in the transaction.
    /// </summary>
    private async Task<(CreateMessageOptions Message, WhatsAppTemplates.Choice? Template)?> PrepareAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, CancellationToken cancellationToken)
    {
        // STOP's own confirmation is the one text that goes to a worker who has just opted out.
        if (row.OptedOut && row.Purpose != Replies.StoppedPurpose)
        {
            await EndAsync(connection, transaction, row, "suppressed", null, null, failed: false, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            LogSuppressed(logger, row.Id);
            return null;
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
                await EndAsync(connection, transaction, row, "failed", TwilioErrorCodes.WhatsAppOutsideSessionWindow, reason, failed: true, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                LogOutsideWhatsAppWindow(logger, row.Id, row.Purpose, language);
                throw new JobGaveUpException($"Reply {row.Id}: {reason}.");
            }
        }
        var number = pii.Decrypt(row.PhoneEncrypted, PiiPurpose.CallerPhone);
        var publicBase = twilioOptions.Value.PublicBaseUrl;
        return (new CreateMessageOptions(new PhoneNumber(whatsApp ? "whatsapp:" + number : number))
        {
            // From the number the worker texted (the toll-free one on the posters, say), else the channel's own.
            From = new PhoneNumber(row.HotlineNumber ?? (whatsApp ? hotline.Value.WhatsAppSender : hotline.Value.SmsNumber)),
            Body = template is null ? pii.Decrypt(row.BodyEncrypted, PiiPurpose.MessageBody) : null,
            ContentSid = template?.Template.ContentSid,
            // A template without variables needs none.
            ContentVariables = variables is "{}" ? null : variables,
            StatusCallback = string.IsNullOrEmpty(publicBase) ? null : new Uri(publicBase.TrimEnd('/') + MessagingEndpoints.Prefix + "/status"),
        }, template);
    }

    private async Task PostAsync(Claimed handedOver, CreateMessageOptions message, WhatsAppTemplates.Choice? template, CancellationToken cancellationToken)
    {
        try
        {
            // Retried by the client only where Twilio cannot have taken it (TwilioRetries); bounded by the client's timeout.
            var sent = await MessageResource.CreateAsync(message, twilio);
            await RecordSentAsync(handedOver, sent, template, cancellationToken);
            LogSent(logger, handedOver.Id, sent.Sid, handedOver.Attempts);
        }
        catch (ApiException ex) when (TwilioFailures.IsOptOut(ex))
        {
            await FinishAsync(handedOver, "failed", TwilioErrorCodes.RecipientOptedOut, "twilio: recipient opted out (21610)", cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await DeliveryStatus.OptOutAsync(connection, handedOver.ConversationId, handedOver.ComplaintId, "twilio_21610", cancellationToken);
            LogOptedOutByTwilio(logger, handedOver.Id);
        }
        catch (TwilioException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // ApiException (Twilio answered) or ApiConnectionException (no answer). Never the exception's
            // message: Twilio's error texts quote the number.
            var error = TwilioFailures.Describe(ex);
            var (httpStatus, errorCode) = (TwilioFailures.HttpStatus(ex), TwilioFailures.ErrorCode(ex));
            var mayRetry = TwilioFailures.ProvesNotTaken(ex) && (ex is not ApiException || httpStatus == 429);
            if (mayRetry && handedOver.Attempts < options.Value.SendMaxAttempts)
            {
                var delay = options.Value.SendRetryBaseDelay * Math.Pow(2, handedOver.Attempts - 1);
                await PutBackAsync(handedOver, time.GetUtcNow() + delay, error, cancellationToken);
                LogWillRetry(logger, handedOver.Id, handedOver.Attempts, httpStatus, errorCode, delay);
                throw new JobWillRetryException($"Reply {handedOver.Id} not taken by Twilio ({error}); tried again.");
            }
            if (TwilioFailures.ProvesNotTaken(ex))
            {
                await FinishAsync(handedOver, "failed", errorCode, error, cancellationToken);
                LogGaveUp(logger, handedOver.Id, handedOver.Attempts, httpStatus, errorCode);
            }
            else
            {
                await FinishAsync(handedOver, "failed", errorCode, $"uncertain: {error}; Twilio may have taken it, so it is not resent", cancellationToken);
                LogUncertain(logger, handedOver.Id, handedOver.Attempts, httpStatus, errorCode);
            }
            throw new JobGaveUpException($"Reply {handedOver.Id} failed ({error}).");
        }
    }

    /// <summary>
    /// Marks the reply <c>handing_over</c> by this job (one more attempt) and commits. When the commit
    /// fails, nothing was posted, and the reply goes back to pending as soon as the database answers
    /// again (else this job's next run would take its own hand-over for a POST that never happened).
    /// </summary>
    private async Task<Claimed> HandOverAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, string jobId, CancellationToken cancellationToken)
    {
        try
        {
            var attempts = await connection.ExecuteScalarAsync<int>(new CommandDefinition("""
                UPDATE messages SET status = 'handing_over', attempts = attempts + 1, handed_over_by = @jobId, updated_at = now()
                WHERE id = @Id
                RETURNING attempts
                """, new { row.Id, jobId }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            return row with { Attempts = attempts };
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is NpgsqlException or TimeoutException)
        {
            // Whether the commit happened is unknown; either way nothing was posted.
            await PersistAsync(row.Id, async retry => await retry.ExecuteAsync(new CommandDefinition("""
                UPDATE messages SET status = 'pending', handed_over_by = NULL, updated_at = now()
                WHERE id = @Id AND status = 'handing_over' AND handed_over_by = @jobId AND attempts = @Attempts + 1
                """, new { row.Id, row.Attempts, jobId }, cancellationToken: cancellationToken)), cancellationToken);
            throw;
        }
    }

    /// <summary>Twilio took the reply: its sid and first status; a template is on the complaint's timeline (<c>message.template</c>).</summary>
    private Task RecordSentAsync(Claimed row, MessageResource sent, WhatsAppTemplates.Choice? template, CancellationToken cancellationToken) =>
        PersistAsync(row.Id, async connection =>
        {
            var status = sent.Status?.ToString() ?? "";
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // Guarded by the attempt: an outcome is written only by the sender that made that attempt.
            var updated = await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE messages SET message_sid = @Sid, status = @status, status_rank = @rank, error_code = @ErrorCode, content_sid = @contentSid,
                                    sent_at = now(), updated_at = now()
                WHERE id = @id AND attempts = @attempts
                """,
                new
                {
                    id = row.Id,
                    attempts = row.Attempts,
                    sent.Sid,
                    status = string.IsNullOrEmpty(status) ? "queued" : status,
                    rank = DeliveryStatus.Rank(status),
                    sent.ErrorCode,
                    contentSid = template?.Template.ContentSid,
                }, transaction, cancellationToken: cancellationToken));
            if (updated > 0 && template is not null && row.ComplaintId is { } complaintId)
            {
                // The worker got the template's words, not the reply's: the console must be able to tell.
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.template",
                    new { message_id = row.Id, message_sid = sent.Sid, purpose = row.Purpose, template = template.Key, content_sid = template.Template.ContentSid },
                    cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Ends a reply after the POST of this attempt; a failure is on the complaint's timeline (kind <c>message.failed</c>).</summary>
    private Task FinishAsync(Claimed row, string status, int? errorCode, string? error, CancellationToken cancellationToken) =>
        PersistAsync(row.Id, async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await EndAsync(connection, transaction, row, status, errorCode, error, failed: true, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Ends a reply (guarded by its attempt: only the job that made that attempt writes its outcome).</summary>
    private static async Task EndAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claimed row, string status, int? errorCode, string? error, bool failed,
        CancellationToken cancellationToken)
    {
        var updated = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE messages SET status = @status, error_code = @errorCode, last_error = @error, updated_at = now()
            WHERE id = @id AND attempts = @attempts
            """, new { id = row.Id, attempts = row.Attempts, status, errorCode, error }, transaction, cancellationToken: cancellationToken));
        if (updated > 0 && failed && row.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.failed",
                new { message_id = row.Id, purpose = row.Purpose, attempts = row.Attempts, error_code = errorCode, error }, cancellationToken);
        }
    }

    /// <summary>Puts a handed-over reply back for Hangfire's retry, guarded by its attempt.</summary>
    private Task PutBackAsync(Claimed row, DateTimeOffset retryAt, string error, CancellationToken cancellationToken) =>
        PersistAsync(row.Id, async connection => await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE messages SET status = 'pending', handed_over_by = NULL, next_attempt_at = @retryAt, last_error = @error, updated_at = now()
            WHERE id = @id AND attempts = @attempts
            """, new { id = row.Id, attempts = row.Attempts, retryAt, error }, cancellationToken: cancellationToken)), cancellationToken);

    /// <summary>
    /// A write only this job can make (it alone knows what happened to its attempt): while the
    /// database is unreachable it is tried again, for <see cref="RewriteFor"/>, so a short outage
    /// or a PostgreSQL restart right after a POST does not turn a sent reply into an unknown one.
    /// </summary>
    private async Task PersistAsync(long id, Func<NpgsqlConnection, Task> write, CancellationToken cancellationToken)
    {
        var giveUpAt = time.GetUtcNow() + RewriteFor;
        while (true)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await write(connection);
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is NpgsqlException or TimeoutException
                                       && time.GetUtcNow() + RewriteDelay < giveUpAt)
            {
                LogRewriting(logger, id, ex.GetType().Name);
                await Task.Delay(RewriteDelay, time, cancellationToken);
            }
        }
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

    [LoggerMessage(EventId = 4015, Level = LogLevel.Error, Message = "Reply {MessageId} was being handed to Twilio by a job that stopped; marked failed, not resent (it may have gone out)")]
    private static partial void LogInterrupted(ILogger logger, long messageId);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Error, Message = "Reply {MessageId} failed: Twilio may have taken it (attempt {Attempt}, HTTP {HttpStatus}, Twilio error {ErrorCode}), so it is not resent")]
    private static partial void LogUncertain(ILogger logger, long messageId, int attempt, int? httpStatus, int? errorCode);

    [LoggerMessage(EventId = 4042, Level = LogLevel.Warning, Message = "Reply {MessageId}: the database failed the sender's write ({Error}); writing again")]
    private static partial void LogRewriting(ILogger logger, long messageId, string error);

}

/// <summary>
/// At start, outside Production (which refuses to start without them), warns of hotline languages
/// without a default WhatsApp template: a reply more than 24 hours after the worker's last message fails in them.
/// </summary>
public sealed partial class WhatsAppTemplatesWarning(
    IOptions<MessagingOptions> options, IvrFlowProvider flows, ILogger<WhatsAppTemplatesWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var missing = WhatsAppTemplates.MissingDefaults(options.Value, flows.Current.Languages.Select(language => language.Code));
        if (missing.Count > 0)
        {
            LogTemplatesMissing(logger, string.Join(", ", missing));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 4018, Level = LogLevel.Warning, Message = "No default WhatsApp template for some hotline languages: a WhatsApp reply more than 24 hours after the worker's last message will fail in them. Set {Keys}")]
    private static partial void LogTemplatesMissing(ILogger logger, string keys);
}
