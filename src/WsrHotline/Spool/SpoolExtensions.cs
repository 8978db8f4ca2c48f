using WsrHotline.Health;

namespace WsrHotline.Spool;

public static class SpoolExtensions
{
    /// <summary>The outage spool shared by the voice and messaging webhooks, its replayer and its readiness check.</summary>
    public static IServiceCollection AddWebhookSpool(this IServiceCollection services)
    {
        services.AddOptions<SpoolOptions>()
            .BindConfiguration("Spool")
            // The setting's name before texts shared the spool: a deployment that set it keeps its folder (and what waits in it).
            .PostConfigure<IConfiguration>((options, configuration) =>
            {
                if (configuration["Spool:Path"] is null && configuration["Voice:SpoolPath"] is { Length: > 0 } earlier)
                {
                    options.Path = earlier;
                }
            })
            .Validate(options => !string.IsNullOrWhiteSpace(options.Path), "Spool:Path must name a folder that survives restarts.")
            .Validate(options => options.ReplayInterval > TimeSpan.Zero && options.StuckAfter > TimeSpan.Zero,
                "Spool:ReplayInterval and Spool:StuckAfter must be positive (e.g. 00:00:03 and 00:05:00).")
            .Validate(options => options.ReplaySettle >= TimeSpan.Zero, "Spool:ReplaySettle must not be negative (e.g. 00:00:10).")
            .ValidateOnStart();
        services.AddSingleton<WebhookSpool>();
        services.AddSingleton<SpoolReplayer>();
        services.AddHostedService(provider => provider.GetRequiredService<SpoolReplayer>());
        services.AddHealthChecks().AddCheck<SpoolHealthCheck>("webhook_spool", tags: [HealthExtensions.ReadyTag]);
        return services;
    }
}
