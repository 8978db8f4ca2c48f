namespace WsrHotline.Database;

/// <summary>
/// Work that start-up does once the migrations are applied (a schema of its own, tables kept in line
/// with configuration, a seed), registered by the capability it belongs to. The steps run in the
/// order they were registered, and again from the start while PostgreSQL is unreachable, so each must
/// be safe to repeat.
/// </summary>
public sealed record StartupStep(string Name, Func<IServiceProvider, CancellationToken, Task> RunAsync);

public static class StartupSteps
{
    public static IServiceCollection AddStartupStep(this IServiceCollection services, string name, Func<IServiceProvider, CancellationToken, Task> run) =>
        services.AddSingleton(new StartupStep(name, run));
}
