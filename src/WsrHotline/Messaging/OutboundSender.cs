using Dapper;
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
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Messaging;

/// <summary>
/// Sends the replies the intake queued, one at a time, at most once each:
/// <list type="number">
/// <item>claim one due reply (<c>FOR UPDATE SKIP LOCKED</c>, <c>pending</c> → <c>claimed</c>, with a lease), so any
/// number of instances share the queue and none sends a reply another holds;</item>
/// <item>decide what goes (suppressed after STOP, a WhatsApp template outside the 24-hour window);</item>
/// <item>mark it <c>handing_over</c> in its own commit, just before its POST to Twilio;</item>
/// <item>POST, then record the outcome.</item>
/// </list>
/// A sender that dies (kill -9, a lost database) leaves at most one reply handed over whose outcome is
/// unknown: when its lease runs out it is marked failed, never resent, since Twilio may have taken it
/// (its Messages API has no idempotency key). A reply still only <c>claimed</c> was never attempted:
/// when its lease runs out it is put back and goes out. An error resends a reply only when it proves
/// Twilio did not take it (429, or no connection made); a 5xx, a timeout or a connection lost mid-request
/// may have reached Twilio, and fails the reply instead (on the complaint's timeline).
/// A WhatsApp reply outside the 24-hour window goes as the configured template, never as free text.
/// </summary>
public sealed partial class OutboundSender(
    NpgsqlDataSource dataSource,
    ITwilioRestClient twilio,
    PiiProtector pii,
    IvrFlowProvider flows,
    IOptions<HotlineOptions> hotline,
    IOptions<TwilioOptions> twilioOptions,
    IOptions<MessagingOptions> options,
    TimeProvider time,
    ILogger<OutboundSender> logger)
{
    /// <summary>A reply this sender holds; <see cref="ClaimLease"/>, as stored, identifies the claim.</summary>
    private sealed record Claimed(
        long Id, string Channel, long? ComplaintId, long ConversationId, string BodyEncrypted, string Purpose,
        int Attempts, string PhoneEncrypted, bool OptedOut, DateTime LastInboundAt, string? LanguageCode, string? CaseNumber, string? HotlineNumber,
        DateTime ClaimLease);

    /// <summary>WhatsApp allows free text only this long after the worker's last message.</summary>
    public static readonly TimeSpan WhatsAppWindow = TimeSpan.FromHours(24);

    /// <summary>How long to wait before writing again to a database that failed a write this sender must make.</summary>
    private static readonly TimeSpan RewriteDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Sends due replies, one after the other, up to <see cref="MessagingOptions.SendBatchSize"/>; returns how many it claimed.</summary>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        await ExpireLeasesAsync(cancellationToken);
        // A round takes each reply once: one put back for a retry waits for the next round.
        var tried = new List<long>();
        while (tried.Count < options.Value.SendBatchSize && await ClaimAsync(tried, cancellationToken) is { } row)
        {
            tried.Add(row.Id);
            await SendAsync(row, cancellationToken);
        }
        return tried.Count;
    }

    private async Task<Claimed?> ClaimAsync(List<long> tried, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM messages
                WHERE direction = 'outbound' AND status = 'pending' AND next_attempt_at <= @now AND id <> ALL(@tried)
                ORDER BY next_attempt_at, id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE messages m
            SET status = 'claimed', lease_until = @leaseUntil, updated_at = now()
            FROM due, conversations c, caller_identities ci
            WHERE m.id = due.id AND c.id = m.conversation_id AND ci.id = m.caller_identity_id
            RETURNING m.id, m.channel, m.complaint_id, m.conversation_id, m.body_encrypted, m.purpose, m.attempts,
                      ci.phone_encrypted, c.opted_out_at IS NOT NULL AS opted_out, c.last_inbound_at, c.language_code,
                      (SELECT case_number FROM complaints WHERE id = m.complaint_id) AS case_number, c.hotline_number,
                      m.lease_until AS claim_lease
            """,
            new { now, tried = tried.ToArray(), leaseUntil = now + options.Value.SendLease },
            cancellationToken: cancellationToken));
    }

    private async Task SendAsync(Claimed row, CancellationToken cancellationToken)
    {
        // STOP's own confirmation is the one text that goes to a worker who has just opted out.
        if (row.OptedOut && row.Purpose != Replies.StoppedPurpose)
        {
            await FinishClaimAsync(row, "suppressed", null, null, failed: false, cancellationToken);
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
                await FinishClaimAsync(row, "failed", TwilioErrorCodes.WhatsAppOutsideSessionWindow, reason, failed: true, cancellationToken);
                LogOutsideWhatsAppWindow(logger, row.Id, row.Purpose, language);
                return;
            }
        }
        var number = pii.Decrypt(row.PhoneEncrypted, PiiPurpose.CallerPhone);
        var publicBase = twilioOptions.Value.PublicBaseUrl;
        var message = new CreateMessageOptions(new PhoneNumber(whatsApp ? "whatsapp:" + number : number))
        {
            // From the number the worker texted (the toll-free one on the posters, say), else the channel's own.
            From = new PhoneNumber(row.HotlineNumber ?? (whatsApp ? hotline.Value.WhatsAppSender : hotline.Value.SmsNumber)),
            Body = template is null ? pii.Decrypt(row.BodyEncrypted, PiiPurpose.MessageBody) : null,
            ContentSid = template?.Template.ContentSid,
            // A template without variables needs none.
            ContentVariables = variables is "{}" ? null : variables,
            StatusCallback = string.IsNullOrEmpty(publicBase) ? null : new Uri(publicBase.TrimEnd('/') + MessagingEndpoints.Prefix + "/status"),
        };

        if (await HandOverAsync(row, cancellationToken) is not { } handedOver)
        {
            // The claim ran out and another sender may hold the reply now: it is theirs.
            LogClaimLost(logger, row.Id);
            return;
        }
        try
        {
            // Retried only where Twilio cannot have taken it (TwilioRetries); bounded by the client's timeout.
            var sent = await MessageResource.CreateAsync(message, twilio);
            await RecordSentAsync(handedOver, sent, template, cancellationToken);
            LogSent(logger, row.Id, sent.Sid, handedOver.Attempts);
        }
        catch (ApiException ex) when (TwilioFailures.IsOptOut(ex))
        {
            await FinishAsync(handedOver, "failed", TwilioErrorCodes.RecipientOptedOut, "twilio: recipient opted out (21610)", cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await DeliveryStatus.OptOutAsync(connection, row.ConversationId, row.ComplaintId, "twilio_21610", cancellationToken);
            LogOptedOutByTwilio(logger, row.Id);
        }
        catch (TwilioException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // ApiException (Twilio answered) or ApiConnectionException (no answer). Never the exception's
            // message: Twilio's error texts quote the number.
            var error = TwilioFailures.Describe(ex);
            var (httpStatus, errorCode) = (TwilioFailures.HttpStatus(ex), TwilioFailures.ErrorCode(ex));
            if (!TwilioFailures.ProvesNotTaken(ex))
            {
                await FinishAsync(handedOver, "failed", errorCode,
                    $"uncertain: {error}; Twilio may have taken it, so it is not resent", cancellationToken);
                LogUncertain(logger, row.Id, handedOver.Attempts, httpStatus, errorCode);
            }
            else if (ex is not ApiException || httpStatus == 429)
            {
                if (handedOver.Attempts < options.Value.SendMaxAttempts)
                {
                    var delay = options.Value.SendRetryBaseDelay * Math.Pow(2, handedOver.Attempts - 1);
                    await RewriteAsync(handedOver, "'pending', next_attempt_at = @next", new { next = time.GetUtcNow() + delay }, error, cancellationToken);
                    LogWillRetry(logger, row.Id, handedOver.Attempts, httpStatus, errorCode, delay);
                }
                else
                {
                    await FinishAsync(handedOver, "failed", errorCode, error, cancellationToken);
                    LogGaveUp(logger, row.Id, handedOver.Attempts, httpStatus, errorCode);
                }
            }
            else
            {
                // Twilio refused it (a 4xx other than 429): trying again would be refused again.
                await FinishAsync(handedOver, "failed", errorCode, error, cancellationToken);
                LogGaveUp(logger, row.Id, handedOver.Attempts, httpStatus, errorCode);
            }
        }
    }

    /// <summary>
    /// Marks the claimed reply <c>handing_over</c> (one more attempt, a new lease) in its own commit;
    /// null when the claim is no longer this sender's. When that write fails, this sender has not
    /// posted the reply and says so as soon as the database answers again: it goes back to pending.
    /// </summary>
    private async Task<Claimed?> HandOverAsync(Claimed row, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var attempts = await connection.QuerySingleOrDefaultAsync<int?>(new CommandDefinition("""
                UPDATE messages SET status = 'handing_over', attempts = attempts + 1, lease_until = @leaseUntil, updated_at = now()
                WHERE id = @Id AND status = 'claimed' AND lease_until = @ClaimLease
                RETURNING attempts
                """, new { row.Id, row.ClaimLease, leaseUntil = time.GetUtcNow() + options.Value.SendLease }, cancellationToken: cancellationToken));
            return attempts is { } n ? row with { Attempts = n } : null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is NpgsqlException or TimeoutException)
        {
            // Whether the commit happened is unknown; either way nothing was posted.
            await PersistAsync(row.Id, async connection => await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE messages SET status = 'pending', lease_until = NULL, updated_at = now()
                WHERE id = @Id AND status IN ('claimed', 'handing_over') AND attempts IN (@Attempts, @Attempts + 1)
                """, new { row.Id, row.Attempts }, cancellationToken: cancellationToken)), cancellationToken);
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
                                    sent_at = now(), lease_until = NULL, updated_at = now()
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

    /// <summary>Ends a reply that was claimed but never handed over (suppressed, or failed before any POST).</summary>
    private Task FinishClaimAsync(Claimed row, string status, int? errorCode, string? error, bool failed, CancellationToken cancellationToken) =>
        EndAsync(row, "status = 'claimed' AND lease_until = @claimLease", status, errorCode, error, failed, cancellationToken);

    /// <summary>Ends a reply after the POST of this attempt; a failure is on the complaint's timeline (kind <c>message.failed</c>).</summary>
    private Task FinishAsync(Claimed row, string status, int? errorCode, string? error, CancellationToken cancellationToken) =>
        EndAsync(row, "attempts = @attempts", status, errorCode, error, failed: true, cancellationToken);

    private Task EndAsync(Claimed row, string guard, string status, int? errorCode, string? error, bool failed, CancellationToken cancellationToken) =>
        PersistAsync(row.Id, async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var updated = await connection.ExecuteAsync(new CommandDefinition($"""
                UPDATE messages SET status = @status, error_code = @errorCode, last_error = @error, lease_until = NULL, updated_at = now()
                WHERE id = @id AND {guard}
                """, new { id = row.Id, attempts = row.Attempts, claimLease = row.ClaimLease, status, errorCode, error }, transaction,
                cancellationToken: cancellationToken));
            if (updated > 0 && failed && row.ComplaintId is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "message.failed",
                    new { message_id = row.Id, purpose = row.Purpose, attempts = row.Attempts, error_code = errorCode, error }, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Puts a handed-over reply back (a retry), guarded by its attempt.</summary>
    private Task RewriteAsync(Claimed row, string set, object values, string error, CancellationToken cancellationToken) =>
        PersistAsync(row.Id, async connection =>
        {
            var parameters = new DynamicParameters(values);
            parameters.AddDynamicParams(new { id = row.Id, attempts = row.Attempts, error });
            await connection.ExecuteAsync(new CommandDefinition($"""
                UPDATE messages SET status = {set}, lease_until = NULL, last_error = @error, updated_at = now()
                WHERE id = @id AND attempts = @attempts
                """, parameters, cancellationToken: cancellationToken));
        }, cancellationToken);

    /// <summary>
    /// A write only this sender can make (it alone knows what happened to its attempt): while the
    /// database is unreachable it is tried again, for as long as the reply's lease, so a short outage
    /// or a PostgreSQL restart right after a POST does not turn a sent reply into an unknown one.
    /// </summary>
    private async Task PersistAsync(long id, Func<NpgsqlConnection, Task> write, CancellationToken cancellationToken)
    {
        var giveUpAt = time.GetUtcNow() + options.Value.SendLease;
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

    /// <summary>
    /// Leases run out: a reply still 'claimed' was never posted and is put back; one 'handing_over' may
    /// have reached Twilio and is marked failed, not resent.
    /// </summary>
    private async Task ExpireLeasesAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var putBack = (await connection.QueryAsync<long>(new CommandDefinition("""
            UPDATE messages SET status = 'pending', lease_until = NULL, updated_at = now()
            WHERE direction = 'outbound' AND status = 'claimed' AND lease_until < @now
            RETURNING id
            """, new { now }, transaction, cancellationToken: cancellationToken))).ToList();
        var interrupted = (await connection.QueryAsync<(long Id, long? ComplaintId, string Purpose, int Attempts)>(new CommandDefinition("""
            UPDATE messages SET status = 'failed', lease_until = NULL, updated_at = now(),
                                last_error = 'interrupted: the sender stopped while handing it to Twilio; not resent, it may have gone out'
            WHERE direction = 'outbound' AND status = 'handing_over' AND lease_until < @now
            RETURNING id, complaint_id, purpose, attempts
            """, new { now }, transaction, cancellationToken: cancellationToken))).ToList();
        foreach (var (id, complaintId, purpose, attempts) in interrupted)
        {
            if (complaintId is { } complaint)
            {
                await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, null, "message.failed",
                    new { message_id = id, purpose, attempts, error = "interrupted" }, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        foreach (var id in putBack)
        {
            LogPutBack(logger, id);
        }
        foreach (var (id, _, _, _) in interrupted)
        {
            LogInterrupted(logger, id);
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

    [LoggerMessage(EventId = 4015, Level = LogLevel.Error, Message = "Reply {MessageId} was being handed to Twilio by a sender that stopped; marked failed, not resent (it may have gone out)")]
    private static partial void LogInterrupted(ILogger logger, long messageId);

    [LoggerMessage(EventId = 4040, Level = LogLevel.Warning, Message = "Reply {MessageId} was claimed by a sender that stopped before handing it over; put back to be sent")]
    private static partial void LogPutBack(ILogger logger, long messageId);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Error, Message = "Reply {MessageId} failed: Twilio may have taken it (attempt {Attempt}, HTTP {HttpStatus}, Twilio error {ErrorCode}), so it is not resent")]
    private static partial void LogUncertain(ILogger logger, long messageId, int attempt, int? httpStatus, int? errorCode);

    [LoggerMessage(EventId = 4042, Level = LogLevel.Warning, Message = "Reply {MessageId}: the database failed the sender's write ({Error}); writing again")]
    private static partial void LogRewriting(ILogger logger, long messageId, string error);

    [LoggerMessage(EventId = 4043, Level = LogLevel.Warning, Message = "Reply {MessageId}: its claim ran out before it was handed over; left to the sender that holds it now")]
    private static partial void LogClaimLost(ILogger logger, long messageId);
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
