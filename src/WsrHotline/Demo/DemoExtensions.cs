using WsrHotline.Database;

namespace WsrHotline.Demo;

public static class DemoExtensions
{
    public static IServiceCollection AddDemoData(this IServiceCollection services, IHostEnvironment environment)
    {
        services.AddOptions<DemoOptions>()
            .BindConfiguration("Demo")
            .Validate(options => !options.SeedOnStart || environment.IsDevelopment(),
                "Demo:SeedOnStart creates staff with published passwords: it is allowed only in the Development " +
                "environment. Remove it (or set Demo__SeedOnStart=false).")
            .ValidateOnStart();
        services.AddSingleton<DemoSeeder>();
        services.AddStartupStep("demo seed", (provider, ct) => provider.GetRequiredService<DemoSeeder>().SeedIfEnabledAsync(ct));
        return services;
    }
}
