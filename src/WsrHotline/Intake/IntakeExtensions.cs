namespace WsrHotline.Intake;

public static class IntakeExtensions
{
    public static IServiceCollection AddIntake(this IServiceCollection services)
    {
        services.AddSingleton<CallerIdentities>();
        services.AddSingleton<PinChecks>();
        return services;
    }
}
