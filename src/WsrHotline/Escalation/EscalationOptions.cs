namespace WsrHotline.Escalation;

/// <summary>Section <c>Escalation</c>: who hears about breaches, and how deliveries to buyers are made.</summary>
public sealed class EscalationOptions
{
    /// <summary>E-mail addresses of the coordinators, alerted at every breach (none: console only).</summary>
    public string[] CoordinatorEmails { get; set; } = [];

    /// <summary>
    /// The HMAC-SHA256 key buyers' webhooks are signed with when their contact has no secret of its
    /// own (<c>buyer_contacts.webhook_secret</c>). Without either, a webhook delivery fails and ends dead.
    /// </summary>
    public string? WebhookSecret { get; set; }

    /// <summary>The public address buyers' answer links point to; default <c>Twilio:PublicBaseUrl</c>.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>How long a buyer's answer link stays valid.</summary>
    public TimeSpan AnswerLinkLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Attempts in all before a delivery is dead (shown on the dashboard): its job's runs, Hangfire's retries included.</summary>
    public int DeliveryMaxAttempts { get; set; } = 8;

    /// <summary>
    /// The wait after the first failed attempt, doubled after each further one (capped at a day; whole
    /// seconds, as Hangfire schedules its retries).
    /// </summary>
    public TimeSpan DeliveryRetryBaseDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long an attempt holds its delivery: another job for it does nothing until then, and after a
    /// crash mid-send it is sent again once this has passed. Longer than <see cref="DeliveryTimeout"/>.
    /// </summary>
    public TimeSpan DeliveryLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Timeout of one webhook request or SMTP exchange.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How many clocks one sweep transaction takes.</summary>
    public int SweepBatchSize { get; set; } = 500;

    /// <summary>Complaints with no activity for this long count as stalled on the dashboard.</summary>
    public TimeSpan StalledAfter { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How far ahead the coverage job checks the rota.</summary>
    public TimeSpan CoverageHorizon { get; set; } = TimeSpan.FromHours(72);

    /// <summary>How long after a check-in is sent the worker's next text counts as its answer.</summary>
    public TimeSpan CheckinAnswerWindow { get; set; } = TimeSpan.FromDays(14);
}

/// <summary>Section <c>Smtp</c>: the mail server e-mails to coordinators and buyers go through.</summary>
public sealed class SmtpOptions
{
    /// <summary>Empty: e-mail is not configured and e-mail deliveries fail (and end dead).</summary>
    public string Host { get; set; } = "";

    public int Port { get; set; } = 25;

    public bool EnableSsl { get; set; }

    public string From { get; set; } = "hotline@localhost";

    public string? UserName { get; set; }

    public string? Password { get; set; }
}
