using WsrHotline.Staff;

namespace WsrHotline.LiveEvents;

public static class LiveEventsExtensions
{
    /// <summary>SignalR, this instance's identity and the relay that forwards NOTIFYed events to it.</summary>
    public static IServiceCollection AddLiveEvents(this IServiceCollection services)
    {
        services.AddSignalR(options =>
        {
            // Keep-alives often enough that a console behind a dropping Wi-Fi notices within seconds.
            options.KeepAliveInterval = TimeSpan.FromSeconds(10);
            options.ClientTimeoutInterval = TimeSpan.FromSeconds(30);
        });
        services.AddSingleton<ConsoleInstance>();
        services.AddSingleton<ConsoleConnections>();
        services.AddHostedService<ConsoleEventRelay>();
        return services;
    }

    public static IEndpointRouteBuilder MapLiveEvents(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHub<ConsoleHub>("/hubs/console").RequireAuthorization(StaffPolicies.Investigator);
        return endpoints;
    }
}
