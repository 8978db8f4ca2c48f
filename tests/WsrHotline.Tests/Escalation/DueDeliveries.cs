using Dapper;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Escalation;
using WsrHotline.Jobs;

namespace WsrHotline.Tests.Escalation;

/// <summary>
/// Runs the delivery jobs of the escalations that are due, one after the other, as Hangfire's workers
/// would (tests run without a Hangfire server, so that they say when work happens). A job's retry or
/// give-up (its exception to Hangfire) is what the escalation's row then says.
/// </summary>
public static class DueDeliveries
{
    /// <summary>Runs the job of every e-mail and webhook due now on this instance; returns how many jobs ran.</summary>
    public static async Task<int> DeliverDueAsync(IServiceProvider services)
    {
        var delivery = services.GetRequiredService<EscalationDelivery>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        List<long> due;
        await using (var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync())
        {
            due = [.. await connection.QueryAsync<long>("""
                SELECT id FROM escalations
                WHERE status IN ('pending', 'failed') AND next_attempt_at <= @now AND channel <> 'console'
                ORDER BY next_attempt_at, id
                """, new { now })];
        }
        foreach (var id in due)
        {
            try
            {
                await delivery.DeliverAsync(id, CancellationToken.None);
            }
            catch (Exception ex) when (ex is JobWillRetryException or JobGaveUpException)
            {
                // Hangfire's business: a retry after the backoff, or the Failed list.
            }
        }
        return due.Count;
    }

    /// <summary>The delivery jobs waiting in Hangfire's queue: their job ids and escalations.</summary>
    public static List<(string JobId, long EscalationId)> Enqueued(IServiceProvider services)
    {
        var storage = services.GetRequiredService<JobStorage>();
        using var connection = storage.GetConnection();
        // The queue still lists a job deleted before a worker fetched it: its state says.
        return [.. storage.GetMonitoringApi().EnqueuedJobs("default", 0, 10_000)
            .Where(job => job.Value.Job is { Method.Name: nameof(EscalationDelivery.DeliverAsync) } && job.Value.Job.Type == typeof(EscalationDelivery)
                          && connection.GetJobData(job.Key)?.State == "Enqueued")
            .Select(job => (job.Key, (long)job.Value.Job!.Args[0]))];
    }
}
