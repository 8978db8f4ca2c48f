using WsrHotline.Jobs;

namespace WsrHotline.Reconciliation;

public static class ReconciliationExtensions
{
    /// <summary>The reconciliation against Twilio (its daily run, the recurring job <c>twilio-reconciliation</c>) and its outage watcher.</summary>
    public static IServiceCollection AddTwilioReconciliation(this IServiceCollection services)
    {
        services.AddOptions<ReconciliationOptions>()
            .BindConfiguration("Reconciliation")
            .Validate(o => o.DailyWindow >= TimeSpan.FromHours(1) && o.OutageOverlap >= TimeSpan.Zero
                           && o.OutageProbeInterval > TimeSpan.Zero && o.RetryBaseDelay > TimeSpan.Zero,
                "Reconciliation: DailyWindow at least 01:00:00 (default 2.00:00:00), OutageOverlap not negative, OutageProbeInterval and RetryBaseDelay positive.")
            .ValidateOnStart();
        services.AddSingleton<TwilioReconciliation>();
        services.AddRecurringJob(RecurringJobs.TwilioReconciliationId, o => o.ReconciliationInterval,
            (p, ct) => p.GetRequiredService<TwilioReconciliation>().RunDailyAsync(ct));
        services.AddHostedService<OutageWatcher>();
        return services;
    }
}
