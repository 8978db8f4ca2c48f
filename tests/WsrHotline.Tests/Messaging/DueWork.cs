using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Jobs;
using WsrHotline.Messaging;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// Runs the send jobs of the replies that are due, one after the other, as Hangfire's workers would
/// (tests run without a Hangfire server, so that they say when work happens). Each run is a job of
/// its own id; a job's retry or give-up (its exception to Hangfire) is what the reply's row then says.
/// </summary>
public sealed class DueReplies(IServiceProvider services)
{
    /// <summary>Sends every reply due now; returns how many jobs ran.</summary>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        var sender = services.GetRequiredService<OutboundSender>();
        var due = await DueAsync(services, """
            SELECT id FROM messages WHERE direction = 'outbound' AND status = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at, id
            """);
        foreach (var id in due)
        {
            await RunAsync(() => sender.SendAsync(id, "test-" + Guid.NewGuid().ToString("N"), cancellationToken));
        }
        return due.Count;
    }

    internal static async Task<List<long>> DueAsync(IServiceProvider services, string sql)
    {
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        await using var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        return [.. await connection.QueryAsync<long>(sql, new { now })];
    }

    /// <summary>One job run; its retry or give-up is Hangfire's business, not the test's.</summary>
    internal static async Task RunAsync(Func<Task> job)
    {
        try
        {
            await job();
        }
        catch (Exception ex) when (ex is JobWillRetryException or JobGaveUpException)
        {
        }
    }
}

/// <summary>Runs the download jobs of the attachments that are due, one after the other, as Hangfire's workers would.</summary>
public sealed class DueMedia(IServiceProvider services)
{
    /// <summary>Downloads every attachment due now; returns how many jobs ran.</summary>
    public async Task<int> FetchDueAsync(CancellationToken cancellationToken)
    {
        var fetcher = services.GetRequiredService<MediaFetcher>();
        var due = await DueReplies.DueAsync(services, """
            SELECT id FROM message_media WHERE status = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at, id
            """);
        foreach (var id in due)
        {
            await DueReplies.RunAsync(() => fetcher.FetchAsync(id, cancellationToken));
        }
        return due.Count;
    }
}
