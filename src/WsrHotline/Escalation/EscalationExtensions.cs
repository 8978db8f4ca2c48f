using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Deadlines;
using WsrHotline.Jobs;

namespace WsrHotline.Escalation;

public static class EscalationExtensions
{
    /// <summary>
    /// Clocks, the escalation ladder, deliveries to buyers (a Hangfire job each, retried with the
    /// attempts and backoff of section <c>Escalation</c>), coverage and the retaliation watch, and the
    /// recurring jobs that run them (<see cref="RecurringWorkRegistration.AddRecurringJob"/>).
    /// </summary>
    public static IServiceCollection AddEscalation(this IServiceCollection services)
    {
        services.AddOptions<ClocksOptions>()
            .BindConfiguration("Clocks")
            .Validate(o => o.Severities().All(s => s.Clocks.Problem(s.Severity) is null),
                "Clocks: every stage of Standard, Retaliation and ZeroTolerance must be a positive duration in order " +
                "(Acknowledged <= InvestigationStarted <= ResolutionProposed <= Resolved, FirstContact <= Resolved) and BuyerGrace not negative.")
            .Validate(o => o.WarnAt is > 0 and < 1, "Clocks:WarnAt must be a fraction between 0 and 1 (e.g. 0.75).")
            .Validate(o => o.BuyerKinds.All(kind => o.Standard.Stages().Any(stage => stage.Kind == kind)),
                "Clocks:BuyerEscalatedKinds may only name stages: acknowledged, first_contact, investigation_started, resolution_proposed, resolved, verified.")
            .ValidateOnStart();
        // The database's clock policy (what the triggers compute due times from) follows this section.
        services.AddStartupStep("clock policy", (provider, ct) => Deadlines.ClockPolicySync.SyncAsync(
            provider.GetRequiredService<NpgsqlDataSource>(), provider.GetRequiredService<IOptions<ClocksOptions>>().Value, ct));
        services.AddOptions<EscalationOptions>()
            .BindConfiguration("Escalation")
            .Validate(o => o.CoordinatorEmails.All(IsEmail), "Escalation:CoordinatorEmails must be e-mail addresses.")
            .Validate(o => o.DeliveryMaxAttempts >= 1 && o.DeliveryRetryBaseDelay >= TimeSpan.Zero && o.DeliveryLease > TimeSpan.Zero
                           && o.DeliveryTimeout > TimeSpan.Zero && o.SweepBatchSize is >= 1 and <= 10_000,
                "Escalation: DeliveryMaxAttempts at least 1, DeliveryRetryBaseDelay not negative, DeliveryLease and DeliveryTimeout positive, SweepBatchSize 1-10000.")
            .Validate(o => o.WebhookSecret is null || o.WebhookSecret.Length >= 32,
                "Escalation:WebhookSecret must be at least 32 characters (e.g. `openssl rand -base64 32`).")
            .Validate(o => string.IsNullOrEmpty(o.PublicBaseUrl) || Uri.TryCreate(o.PublicBaseUrl, UriKind.Absolute, out _),
                "Escalation:PublicBaseUrl must be an absolute URL such as https://hotline.example.org, or empty.")
            .ValidateOnStart();
        services.AddOptions<SmtpOptions>()
            .BindConfiguration("Smtp")
            .Validate(o => o.Port is > 0 and < 65536 && IsEmail(o.From), "Smtp:Port must be a TCP port and Smtp:From an e-mail address.")
            .ValidateOnStart();
        services.AddHttpClient(EscalationDelivery.HttpClientName);
        services.AddSingleton<DeadlineSweep>();
        services.AddSingleton<EscalationDelivery>();
        services.AddJobRetry<EscalationDelivery>(provider =>
        {
            var o = provider.GetRequiredService<IOptions<EscalationOptions>>().Value;
            return JobRetries.Exponential(o.DeliveryMaxAttempts, o.DeliveryRetryBaseDelay);
        });
        services.AddSingleton<CoverageCheck>();
        services.AddSingleton<RetaliationWatch>();
        services.AddRecurringJob(RecurringJobs.DeadlineSweepId, o => o.SweepInterval, (p, ct) => p.GetRequiredService<DeadlineSweep>().SweepAsync(ct));
        // Deliveries are jobs of their own; this is their safety net (a job for each one a minute overdue).
        services.AddRecurringJob(RecurringJobs.EscalationDeliveryId, o => o.DeliveryInterval,
            (p, ct) => p.GetRequiredService<EscalationDelivery>().EnqueueForgottenAsync(ct));
        services.AddRecurringJob(RecurringJobs.CoverageCheckId, o => o.CoverageInterval, (p, ct) => p.GetRequiredService<CoverageCheck>().RunAsync(ct));
        services.AddRecurringJob(RecurringJobs.RetaliationCheckinsId, o => o.CheckinInterval,
            (p, ct) => p.GetRequiredService<RetaliationWatch>().QueueDueAsync(ct));

        return services;
    }

    public static IEndpointRouteBuilder MapEscalation(this IEndpointRouteBuilder endpoints) => endpoints.MapBuyerAnswers();

    /// <summary>One address, with an @: what MailKit will accept as a recipient or sender.</summary>
    private static bool IsEmail(string value) =>
        MimeKit.MailboxAddress.TryParse(value, out var mailbox) && mailbox.Address.Contains('@', StringComparison.Ordinal);
}
