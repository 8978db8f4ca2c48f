using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace WsrHotline.Spool;

/// <summary>
/// Part of <c>/health/ready</c>: the spool's backlog and its set-aside files, in counts (never
/// contents, never paths: the description is public). "Degraded" (still 200) while any file is set
/// aside, or while the oldest waiting webhook is older than <see cref="SpoolOptions.StuckAfter"/>:
/// both mean webhooks Twilio was told we kept are not stored. Read from this instance's folder.
/// </summary>
internal sealed class SpoolHealthCheck(WebhookSpool spool, IOptions<SpoolOptions> options, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        SpoolCounts counts;
        try
        {
            counts = spool.Count();
        }
        catch (IOException)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the spool folder cannot be read"));
        }
        var age = counts.OldestWaitingAt is { } oldest ? time.GetUtcNow() - oldest : TimeSpan.Zero;
        var description = string.Create(CultureInfo.InvariantCulture,
            $"{counts.Waiting} webhook(s) waiting in the outage spool (oldest {Math.Max(0, age.TotalSeconds):F0} s), {counts.SetAside} set aside");
        return Task.FromResult(
            counts.SetAside > 0 ? HealthCheckResult.Degraded(description + " (they can never be stored as they are: see README, Operate it)")
            : counts.Waiting > 0 && age > options.Value.StuckAfter ? HealthCheckResult.Degraded(description + " (replay is behind)")
            : HealthCheckResult.Healthy(description));
    }
}
