using Dapper;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Messaging;

/// <summary>
/// Part of <c>/health/ready</c>: "Degraded" (still 200: the hotline takes texts) while any inbox
/// message was given up after every processing attempt, so that monitoring shows texts nobody
/// answered; the description also gives the backlog and the age of its oldest message. Counts only.
/// </summary>
internal sealed class InboxHealthCheck(NpgsqlDataSource dataSource, StartupState startup) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!startup.Migrated)
        {
            return HealthCheckResult.Unhealthy("not migrated yet");
        }
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var (failed, waiting, oldestSeconds) = await connection.QuerySingleAsync<(long, long, double?)>(new CommandDefinition("""
                SELECT (SELECT count(*) FROM inbound_inbox WHERE failed_at IS NOT NULL),
                       count(*), extract(epoch FROM now() - min(received_at))::float8
                FROM inbound_inbox WHERE failed_at IS NULL
                """, cancellationToken: cancellationToken));
            var backlog = FormattableString.Invariant($"{waiting} waiting, oldest {oldestSeconds ?? 0:F0} s");
            return failed > 0
                ? HealthCheckResult.Degraded(FormattableString.Invariant(
                    $"{failed} message(s) failed processing (inbound_inbox.failed_at; see README, Operate it); {backlog}"))
                : HealthCheckResult.Healthy(backlog);
        }
        catch (NpgsqlException)
        {
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }
}
