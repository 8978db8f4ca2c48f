using Dapper;
using Npgsql;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The webhook answers once a text is in the inbox; the processor handles it a moment later. Tests
/// that assert what a text led to wait for that first, so their assertions keep their meaning.
/// </summary>
public static class InboxWait
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Waits until the message is processed (gone from the inbox) or failed (at once if the webhook kept nothing).</summary>
    public static Task ProcessedAsync(NpgsqlDataSource dataSource, string messageSid) =>
        UntilAsync(dataSource, "SELECT count(*) FROM inbound_inbox WHERE message_sid = @messageSid AND failed_at IS NULL",
            new { messageSid }, $"message {messageSid}");

    /// <summary>Waits until no message in the inbox is left to process.</summary>
    public static Task DrainedAsync(NpgsqlDataSource dataSource) =>
        UntilAsync(dataSource, "SELECT count(*) FROM inbound_inbox WHERE failed_at IS NULL", null, "the inbox");

    private static Task UntilAsync(NpgsqlDataSource dataSource, string unfinishedSql, object? parameters, string what) =>
        Eventually.TrueAsync(async () =>
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            return await connection.ExecuteScalarAsync<long>(unfinishedSql, parameters) == 0;
        }, $"{what} processed", Patience);
}
