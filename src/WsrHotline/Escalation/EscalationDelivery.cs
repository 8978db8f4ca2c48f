using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using MimeKit.Text;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Twilio;

namespace WsrHotline.Escalation;

/// <summary>
/// Sends the e-mails and webhooks the sweep recorded. A delivery is claimed in a transaction of its
/// own (attempts + 1, <c>next_attempt_at</c> pushed past a lease, <c>FOR UPDATE SKIP LOCKED</c>), sent
/// outside any transaction, and its outcome recorded: 'sent', or 'failed' with an exponential backoff,
/// or 'dead' after <see cref="EscalationOptions.DeliveryMaxAttempts"/>. Each attempt is on the timeline
/// and each change of status is a dashboard event. A deliverer that dies mid-send leaves the claim to
/// expire and the delivery is sent again with the same delivery id (at least once; the buyer's
/// recipe deduplicates by it).
/// </summary>
public sealed partial class EscalationDelivery(
    NpgsqlDataSource dataSource,
    TimeProvider time,
    IHttpClientFactory httpClients,
    PiiProtector pii,
    IOptions<EscalationOptions> options,
    IOptions<SmtpOptions> smtpOptions,
    IOptions<TwilioOptions> twilioOptions,
    ILogger<EscalationDelivery> logger)
{
    public const string HttpClientName = "buyer-webhooks";

    private sealed record Claimed(
        long Id, long ComplaintId, string Level, string Channel, int? BuyerId, string Payload, int Attempts,
        string? Address, string? Secret, string? BuyerName);

    /// <summary>Delivers everything due; returns how many deliveries were attempted.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var attempted = 0;
        while (true)
        {
            var claimed = await ClaimAsync(20, cancellationToken);
            if (claimed.Count == 0)
            {
                return attempted;
            }
            foreach (var delivery in claimed)
            {
                await DeliverAsync(delivery, cancellationToken);
                attempted++;
            }
        }
    }

    private async Task<List<Claimed>> ClaimAsync(int batch, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<Claimed>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM escalations
                WHERE status IN ('pending', 'failed') AND next_attempt_at <= @now AND channel <> 'console'
                ORDER BY next_attempt_at
                LIMIT @batch
                FOR UPDATE SKIP LOCKED
            )
            UPDATE escalations e SET attempts = e.attempts + 1, next_attempt_at = @leaseUntil
            FROM due
            WHERE e.id = due.id
            RETURNING e.id, e.complaint_id, e.level, e.channel, e.buyer_id, e.payload::text AS payload, e.attempts,
                      (SELECT address FROM buyer_contacts WHERE id = e.buyer_contact_id) AS address,
                      (SELECT webhook_secret FROM buyer_contacts WHERE id = e.buyer_contact_id) AS secret,
                      (SELECT name FROM buyers WHERE id = e.buyer_id) AS buyer_name
            """, new { now, batch, leaseUntil = now + options.Value.DeliveryLease }, cancellationToken: cancellationToken))).ToList();
    }

    private async Task DeliverAsync(Claimed delivery, CancellationToken cancellationToken)
    {
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
        await RecordOutcomeAsync(delivery, error, cancellationToken);
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

    private async Task RecordOutcomeAsync(Claimed delivery, string? error, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var o = options.Value;
        var status = error is null ? "sent" : delivery.Attempts >= o.DeliveryMaxAttempts ? "dead" : "failed";
        var backoff = TimeSpan.FromTicks(Math.Min(o.DeliveryRetryBaseDelay.Ticks * (1L << Math.Min(delivery.Attempts - 1, 20)), TimeSpan.FromDays(1).Ticks));
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
            """, new { delivery.Id, status, error, now, retryAt = now + backoff }, transaction, cancellationToken: cancellationToken));
        if (previous is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return;
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
    }

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Escalation {EscalationId} sent by {Channel} (attempt {Attempt})")]
    private static partial void LogSent(ILogger logger, long escalationId, string channel, int attempt);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "Escalation {EscalationId} by {Channel} failed (attempt {Attempt}, now {Status}): {Error}")]
    private static partial void LogFailed(ILogger logger, long escalationId, string channel, int attempt, string status, string error);
}
