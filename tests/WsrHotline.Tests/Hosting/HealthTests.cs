using System.Net;
using Dapper;
using Npgsql;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Hosting;

public sealed class HealthTests
{
    [Fact]
    public async Task A_fresh_database_is_migrated_at_start_and_then_reported_ready()
    {
        var name = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await using var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(name));
            using var client = factory.CreateClient();

            var live = await client.GetAsync(new Uri("/health/live", UriKind.Relative));
            var ready = await WaitForReadyAsync(client);

            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Contains("migrations current", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            await using var connection = new NpgsqlConnection(PostgresServer.ConnectionStringFor(name));
            // Every migration the app carries, each once.
            Assert.Equal(WsrHotline.Database.MigrationRunner.Embedded.Count, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(name);
        }
    }

    [Fact]
    public async Task With_the_database_down_the_app_still_answers_and_says_it_is_not_ready()
    {
        // Nothing listens on port 1: the database is "down" from the app's point of view.
        const string unreachable = "Host=127.0.0.1;Port=1;Username=postgres;Password=secret-password;Database=wsr;Timeout=2";
        await using var factory = new HotlineFactory(unreachable);
        using var client = factory.CreateClient();

        var live = await client.GetAsync(new Uri("/health/live", UriKind.Relative));
        var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        var body = await ready.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("database unreachable", body, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-password", body, StringComparison.Ordinal);
    }

    /// <summary>Polls /health/ready until it answers 200 (a fresh app migrates first); returns that answer.</summary>
    internal static async Task<HttpResponseMessage> WaitForReadyAsync(HttpClient client)
    {
        HttpResponseMessage? response = null;
        await Eventually.TrueAsync(async () =>
        {
            response?.Dispose();
            response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            return response.StatusCode == HttpStatusCode.OK;
        }, async () => $"/health/ready answered 200 (last: {(int)response!.StatusCode} {await response.Content.ReadAsStringAsync()})",
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
        return response!;
    }
}
