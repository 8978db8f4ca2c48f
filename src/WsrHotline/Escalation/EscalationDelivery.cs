using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Hangfire;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using MimeKit.Text;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.Jobs;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Escalation;

/// <summary>
/// Delivers one e-mail or webhook the sweep recorded, as a Hangfire job per <c>escalations</c> row
/// (<see cref="DeliverAsync"/>). An attempt claims its row in a statement of its own (attempts + 1,
/// <c>next_attempt_at</c> pushed past <see cref="EscalationOptions.DeliveryLease"/>), sends outside any
/// transaction, and records the outcome: 'sent'; or 'failed', with <c>next_attempt_at</c> at the time
/// Hangfire retries the job (<see cref="JobWillRetryException"/>, the backoff of
/// <see cref="EscalationOptions.DeliveryRetryBaseDelay"/>); or 'dead' after
/// <see cref="EscalationOptions.DeliveryMaxAttempts"/>, and the job goes to Hangfire's Failed list
/// (<see cref="JobGaveUpException"/>). Each attempt is on the timeline and each change of status is a
/// dashboard event. The claim is the guard: a job for a row that an attempt holds, that is not due
/// yet, or that is sent, dead or answered does nothing, so a second job for a row is harmless. A job
/// whose instance dies mid-send leaves the claim to expire and the delivery is sent again with the
/// same delivery id (at least once; the buyer's recipe deduplicates by it).
/// </summary>
/// <remarks>
/// Whoever records deliveries enqueues their jobs once committed (<see cref="DeadlineSweep.EnqueueDeliveries"/>);
/// a delivery whose enqueue was lost (a crash between the commit and the enqueue) or whose retry's job
/// is gone gets a job again from <see cref="EnqueueForgottenAsync"/> (the recurring <c>escalation-delivery</c> job).
/// </remarks>
public sealed partial class EscalationDelivery(
    NpgsqlDataSource dataSource,
    TimeProvider time,
    IHttpClientFactory httpClients,
    PiiProtector pii,
    IBackgroundJobClient jobs,
    IOptions<EscalationOptions> options,
    IOptions<SmtpOptions> smtpOptions,
    IOptions<TwilioOptions> twilioOptions,
    ILogger<EscalationDelivery> logger)
{
    public const string HttpClientName = "buyer-webhooks";

    /// <summary>A delivery still waiting this long after it was due has lost its job, and gets one again.</summary>
    public static readonly TimeSpan ForgottenAfter = TimeSpan.FromMinutes(1);

    private sealed record Claimed(
        long Id, long ComplaintId, string Level, string Channel, int? BuyerId, string Payload, int Attempts,
        string? Address, string? Secret, string? BuyerName);

    /// <summary>Enqueues the delivery job of an escalation whose row is committed.</summary>
    public static void Enqueue(IBackgroundJobClient jobs, long escalationId) =>
        jobs.Enqueue<EscalationDelivery>(delivery => delivery.DeliverAsync(escalationId, CancellationToken.None));

    /// <summary>The recurring safety net: a job for each delivery waiting a minute after it was due; returns how many.</summary>
    public async Task<int> EnqueueForgottenAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var forgotten = (await connection.QueryAsync<long>(new CommandDefinition("""
            SELECT id FROM escalations
            WHERE status IN ('pending', 'failed') AND next_attempt_at < @before AND channel <> 'console'
            ORDER BY next_attempt_at
            """, new { before = time.GetUtcNow() - ForgottenAfter }, cancellationToken: cancellationToken))).ToList();
        foreach (var id in forgotten)
        {
            Enqueue(jobs, id);
        }
        return forgotten.Count;
    }

    /// <summary>
    /// The Hangfire job: one attempt at delivering escalation <paramref name="escalationId"/> when it is
    /// due and no other attempt holds it (see the class's summary). Hangfire passes the server's shutdown token.
    /// </summary>
    public async Task DeliverAsync(long escalationId, CancellationToken cancellationToken)
    {
        if (await ClaimAsync(escalationId, cancellationToken) is not { } delivery)
        {
            // Sent, dead or answered already, waiting for its retry, or another attempt holds it now.
            return;
        }
        string? error;
        try
        {
            error = delivery.Channel switch
            {
                "webhook" => await PostWebhookAsync(delivery, cancellationToken),
                "email" => await SendEmailAsync(delivery, cancellationToken),
                _ => "unknown channel " + delivery.Channel,
            };
        }
        // A failed attempt, recorded and retried: HTTP and network failures, MailKit's refusals (a
        // command the server refused, a broken conversation, failed authentication), a timeout.
        catch (Exception ex) when (ex is HttpRequestException or MailKit.CommandException or MailKit.ProtocolException
                                       or AuthenticationException or System.Net.Sockets.SocketException or OperationCanceledException
                                       or IOException or InvalidOperationException or FormatException
                                   && !cancellationToken.IsCancellationRequested)
        {
            error = ex.GetType().Name + ": " + ex.Message;
        }
        switch (await RecordOutcomeAsync(delivery, error, cancellationToken))
        {
            case "failed":
                throw new JobWillRetryException($"Escalation {delivery.Id} by {delivery.Channel}, attempt {delivery.Attempts}: {error}; tried again after the backoff.");
            case "dead":
                throw new JobGaveUpException($"Escalation {delivery.Id} by {delivery.Channel} is dead after {delivery.Attempts} attempts: {error}.");
        }
    }

    /// <summary>Claims the escalation for this attempt, or null when it is not there to deliver now.</summary>
    private async Task<Claimed?> ClaimAsync(long escalationId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // A second job claiming at the same time waits for the row's lock, then finds it leased.
        return await connection.QuerySingleOrDefaultAsync<Claimed>(new CommandDefinition("""
            UPDATE escalations e SET attempts = e.attempts + 1, next_attempt_at = @leaseUntil
            WHERE e.id = @escalationId AND e.status IN ('pending', 'failed') AND e.next_attempt_at <= @now AND e.channel <> 'console'
            RETURNING e.id, e.complaint_id, e.level, e.channel, e.buyer_id, e.payload::text AS payload, e.attempts,
                      (SELECT address FROM buyer_contacts WHERE id = e.buyer_contact_id) AS address,
                      (SELECT webhook_secret FROM buyer_contacts WHERE id = e.buyer_contact_id) AS secret,
                      (SELECT name FROM buyers WHERE id = e.buyer_id) AS buyer_name
            """, new { escalationId, now, leaseUntil = now + options.Value.DeliveryLease }, cancellationToken: cancellationToken));
    }

    private async Task<string?> PostWebhookAsync(Claimed delivery, CancellationToken cancellationToken)
    {
        var secret = delivery.Secret ?? options.Value.WebhookSecret;
        if (string.IsNullOrEmpty(secret) || delivery.Address is null)
        {
            return "no webhook secret configured (buyer_contacts.webhook_secret or Escalation:WebhookSecret)";
        }
        var body = BuyerBody(delivery).ToJsonString();
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Address)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(BuyerSignatures.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(BuyerSignatures.SignatureHeader, BuyerSignatures.Sign(secret, timestamp, body));
        request.Headers.Add(BuyerSignatures.DeliveryHeader, delivery.Id.ToString(CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.DeliveryTimeout);
        using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, timeout.Token);
        return response.IsSuccessStatusCode ? null : "HTTP " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
    }

    private async Task<string?> SendEmailAsync(Claimed delivery, CancellationToken cancellationToken)
    {
        var smtp = smtpOptions.Value;
        if (string.IsNullOrEmpty(smtp.Host))
        {
            return "no SMTP server configured (Smtp:Host)";
        }
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(smtp.From));
        // The delivery id, so a mail seen twice after a retry can be recognised.
        message.Headers.Add(BuyerSignatures.DeliveryHeader, delivery.Id.ToString(CultureInfo.InvariantCulture));
        string body;
        if (delivery.Level == "buyer")
        {
            if (delivery.Address is null)
            {
                return "the buyer contact has no address";
            }
            message.To.Add(MailboxAddress.Parse(delivery.Address));
            (message.Subject, body) = BuyerEmail(BuyerBody(delivery));
        }
        else
        {
            foreach (var address in options.Value.CoordinatorEmails)
            {
                message.To.Add(MailboxAddress.Parse(address));
            }
            (message.Subject, body) = CoordinatorEmail(delivery);
        }
        message.Body = new TextPart(TextFormat.Plain) { Text = body };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.DeliveryTimeout);
        using var client = new SmtpClient();
        // Smtp:EnableSsl asks for TLS: from the start on port 465, by STARTTLS otherwise (never silently without).
        var security = !smtp.EnableSsl ? SecureSocketOptions.None
            : smtp.Port == 465 ? SecureSocketOptions.SslOnConnect
            : SecureSocketOptions.StartTls;
        await client.ConnectAsync(smtp.Host, smtp.Port, security, timeout.Token);
        if (!string.IsNullOrEmpty(smtp.UserName))
        {
            await client.AuthenticateAsync(smtp.UserName, smtp.Password ?? "", timeout.Token);
        }
        await client.SendAsync(message, timeout.Token);
        await client.DisconnectAsync(quit: true, timeout.Token);
        return null;
    }

    /// <summary>The stored buyer payload, with the delivery id and the answer link.</summary>
    private JsonObject BuyerBody(Claimed delivery)
    {
        var body = JsonNode.Parse(delivery.Payload)!.AsObject();
        body["delivery_id"] = delivery.Id;
        body["answer_url"] = AnswerUrl(delivery.Id);
        return body;
    }

    public string AnswerUrl(long escalationId)
    {
        var baseUrl = (options.Value.PublicBaseUrl is { Length: > 0 } configured ? configured : twilioOptions.Value.PublicBaseUrl ?? "").TrimEnd('/');
        var token = BuyerSignatures.AnswerToken(pii, escalationId, time.GetUtcNow() + options.Value.AnswerLinkLifetime);
        return $"{baseUrl}/buyer/escalations/{escalationId.ToString(CultureInfo.InvariantCulture)}?token={Uri.EscapeDataString(token)}";
    }

    private static (string Subject, string Body) BuyerEmail(JsonObject body)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Complaint {body["reference"]} at {body["supplier"]}, open for {body["days_open"]} days.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"What we ask: {body["ask"]}");
        text.AppendLine();
        text.AppendLine("Provisions of the Code:");
        foreach (var provision in body["provisions"]!.AsArray())
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- {provision!["number"]} {provision["title"]}{((bool)provision["zero_tolerance"]! ? " (zero tolerance)" : "")}");
        }
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Summary: {body["summary"]?.ToString() ?? "(to follow)"}");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Please acknowledge and tell us what you did: {body["answer_url"]}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Delivery id: {body["delivery_id"]}");
        var subject = (string?)body["type"] == BuyerPayload.ZeroToleranceType
            ? $"WSR: zero-tolerance complaint {body["reference"]} at {body["supplier"]}"
            : $"WSR escalation: complaint {body["reference"]} at {body["supplier"]}";
        return (subject, text.ToString());
    }

    private (string Subject, string Body) CoordinatorEmail(Claimed delivery)
    {
        var payload = JsonNode.Parse(delivery.Payload)!.AsObject();
        var reference = BuyerPayload.ReferenceFor(delivery.ComplaintId);
        var what = delivery.Level == "no_buyer"
            ? $"would go to the Signatory Buyers but cannot ({payload["reason"]})"
            : payload["reason"]?.ToString() == "zero_tolerance" ? "is classified zero tolerance" : $"breached its {payload["kind"]} clock (due {payload["due_at"]})";
        var baseUrl = (options.Value.PublicBaseUrl is { Length: > 0 } configured ? configured : twilioOptions.Value.PublicBaseUrl ?? "").TrimEnd('/');
        return ($"[WSR hotline] {reference} {what}",
            $"Complaint {reference} {what}.\n\nOpen it in the console: {baseUrl}/console/complaints/{delivery.ComplaintId.ToString(CultureInfo.InvariantCulture)}\n");
    }

    /// <summary>
    /// Hangfire keeps a scheduled job's time in whole seconds, so it may run a retry up to a second
    /// early. The row falls due that much before the retry, or the retry would find it not yet due, do
    /// nothing and succeed, leaving the delivery to the safety net (seen in the real-server test).
    /// </summary>
    private static readonly TimeSpan HangfireScheduleResolution = TimeSpan.FromSeconds(1);

    /// <summary>Records the attempt; returns the delivery's new status, or null when it no longer waited (a buyer answered meanwhile).</summary>
    private async Task<string?> RecordOutcomeAsync(Claimed delivery, string? error, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var o = options.Value;
        var status = error is null ? "sent" : delivery.Attempts >= o.DeliveryMaxAttempts ? "dead" : "failed";
        // When Hangfire runs the job again: JobRetries.Exponential's delay (base × 2^(n−1), at most a day,
        // whole seconds), not taken from a new filter, whose constructor reads Hangfire's process-wide log provider.
        var backoff = TimeSpan.FromSeconds(Math.Floor(Math.Min(
            o.DeliveryRetryBaseDelay.TotalSeconds * Math.Pow(2, delivery.Attempts - 1), TimeSpan.FromDays(1).TotalSeconds)));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Only a delivery still waiting changes: a buyer may have answered meanwhile.
        var previous = await connection.ExecuteScalarAsync<string?>(new CommandDefinition("""
            WITH old AS (SELECT id, status FROM escalations WHERE id = @Id AND status IN ('pending', 'failed') FOR UPDATE)
            UPDATE escalations e
            SET status = @status, last_error = @error,
                sent_at = CASE WHEN @status = 'sent' THEN @now ELSE e.sent_at END,
                next_attempt_at = CASE WHEN @status = 'failed' THEN @retryAt ELSE e.next_attempt_at END
            FROM old WHERE e.id = old.id
            RETURNING old.status
            """, new { delivery.Id, status, error, now, retryAt = now + backoff - HangfireScheduleResolution }, transaction, cancellationToken: cancellationToken));
        if (previous is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return null;
        }
        await Timeline.AppendAsync(connection, transaction, delivery.ComplaintId, TimelineActor.System, null, "escalation.attempt",
            new { escalation_id = delivery.Id, level = delivery.Level, channel = delivery.Channel, buyer_id = delivery.BuyerId, attempt = delivery.Attempts, outcome = status, error },
            cancellationToken);
        if (previous != status)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Dashboard, Audience.Coordinators, delivery.ComplaintId,
                new { reason = "escalation.status", escalation_id = delivery.Id, level = delivery.Level, channel = delivery.Channel, buyer_id = delivery.BuyerId, status },
                cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        if (error is null)
        {
            LogSent(logger, delivery.Id, delivery.Channel, delivery.Attempts);
        }
        else
        {
            LogFailed(logger, delivery.Id, delivery.Channel, delivery.Attempts, status, error);
        }
        return status;
    }

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Escalation {EscalationId} sent by {Channel} (attempt {Attempt})")]
    private static partial void LogSent(ILogger logger, long escalationId, string channel, int attempt);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "Escalation {EscalationId} by {Channel} failed (attempt {Attempt}, now {Status}): {Error}")]
    private static partial void LogFailed(ILogger logger, long escalationId, string channel, int attempt, string status, string error);
}
