using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Health;

public static class HealthExtensions
{
    /// <summary>The tag of the checks /health/ready runs (capabilities may add their own).</summary>
    public const string ReadyTag = "ready";

    public static IServiceCollection AddHotlineHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<DatabaseReadyCheck>("database", tags: [ReadyTag]);
        return services;
    }

    /// <summary>
    /// <c>/health/live</c>: the process answers. <c>/health/ready</c>: the database answers and every
    /// migration of this build is applied (load balancers send traffic only then).
    /// </summary>
    public static IEndpointRouteBuilder MapHotlineHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteJson });
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteJson });
        return endpoints;
    }

    private static Task WriteJson(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(entry => entry.Key, entry => new
            {
                status = entry.Value.Status.ToString(),
                description = entry.Value.Description,
            }),
        }));
    }
}

internal sealed class DatabaseReadyCheck(NpgsqlDataSource dataSource, MigrationRunner migrations, StartupState startup) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken));
            var pending = await migrations.PendingAsync(cancellationToken);
            if (pending.Count > 0)
            {
                return HealthCheckResult.Unhealthy($"migrations pending: {string.Join(", ", pending)}");
            }
            return startup.Migrated
                ? HealthCheckResult.Healthy("reachable, migrations current")
                : HealthCheckResult.Unhealthy("start-up step still running");
        }
        catch (NpgsqlException)
        {
            // The message can carry the host and user name; the description is public.
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }
}
