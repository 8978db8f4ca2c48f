using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Database;

public sealed class MigrationTests : IAsyncLifetime
{
    private string _database = "";
    private NpgsqlDataSource _dataSource = null!;

    public async Task InitializeAsync()
    {
        _database = await PostgresServer.CreateEmptyDatabaseAsync();
        _dataSource = NpgsqlDataSource.Create(PostgresServer.ConnectionStringFor(_database));
    }

    public async Task DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(_database);
    }

    private MigrationRunner NewRunner() => new(_dataSource, NullLogger<MigrationRunner>.Instance);

    [Fact]
    public async Task Applies_every_embedded_migration_once_and_a_second_run_is_a_no_op()
    {
        Assert.NotEmpty(MigrationRunner.Embedded);

        var first = await NewRunner().ApplyPendingAsync(CancellationToken.None);
        var second = await NewRunner().ApplyPendingAsync(CancellationToken.None);

        Assert.Equal(MigrationRunner.Embedded.Count, first);
        Assert.Equal(0, second);
        Assert.Empty(await NewRunner().PendingAsync(CancellationToken.None));
        await using var connection = await _dataSource.OpenConnectionAsync();
        var journal = (await connection.QueryAsync<string>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
        Assert.Equal(MigrationRunner.Embedded.Select(m => m.Version), journal);
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('complaints') IS NOT NULL"));
    }

    [Fact]
    public async Task Instances_starting_at_once_apply_each_migration_exactly_once()
    {
        // Eight instances race; the advisory lock lets one apply, the others find nothing to do.
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => NewRunner().ApplyPendingAsync(CancellationToken.None))));

        Assert.Equal(MigrationRunner.Embedded.Count, results.Sum());
        await using var connection = await _dataSource.OpenConnectionAsync();
        Assert.Equal(MigrationRunner.Embedded.Count, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task The_old_scheduler_s_qrtz_tables_are_dropped_and_Hangfire_s_schema_is_installed_once_by_instances_starting_at_once()
    {
        // A database the previous scheduler had run on: its qrtz_* tables in the public schema.
        await using (var connection = await _dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                CREATE TABLE qrtz_locks (sched_name text, lock_name text);
                CREATE TABLE qrtz_triggers (sched_name text, trigger_name text);
                """);
        }
        await NewRunner().ApplyPendingAsync(CancellationToken.None);
        // Four instances install Hangfire's schema at once, as the start-up step does.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            WsrHotline.Jobs.JobsSchema.InstallAsync(PostgresServer.ConnectionStringFor(_database), CancellationToken.None))));

        await using var check = await _dataSource.OpenConnectionAsync();
        Assert.Equal(0, await check.ExecuteScalarAsync<int>("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'qrtz%'"));
        Assert.True(await check.ExecuteScalarAsync<bool>("SELECT to_regclass('hangfire.job') IS NOT NULL"));
        Assert.Equal(1, await check.ExecuteScalarAsync<int>("SELECT count(*) FROM hangfire.schema"));
    }

    [Fact]
    public async Task Reports_pending_migrations_on_an_empty_database()
    {
        var pending = await NewRunner().PendingAsync(CancellationToken.None);

        Assert.Equal(MigrationRunner.Embedded.Select(m => m.Version), pending);
    }

    [Fact]
    public async Task Refuses_to_run_when_an_applied_migration_was_edited()
    {
        await NewRunner().ApplyPendingAsync(CancellationToken.None);
        await using (var connection = await _dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001'");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NewRunner().ApplyPendingAsync(CancellationToken.None));

        Assert.Contains("0001_schema_v1.sql was changed after it was applied", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_migration_leaves_nothing_half_applied_and_stops_the_run()
    {
        var broken = new Migration("9998", "broken", "CREATE TABLE half_done (id int); SELECT 1/0;", "x");
        var after = new Migration("9999", "after", "CREATE TABLE after_broken (id int);", "y");
        var runner = new MigrationRunner(_dataSource, NullLogger<MigrationRunner>.Instance, [.. MigrationRunner.Embedded, broken, after]);

        await Assert.ThrowsAsync<PostgresException>(() => runner.ApplyPendingAsync(CancellationToken.None));

        await using var connection = await _dataSource.OpenConnectionAsync();
        Assert.False(await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('half_done') IS NOT NULL"));
        Assert.False(await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('after_broken') IS NOT NULL"));
        Assert.Equal(["9998", "9999"], await runner.PendingAsync(CancellationToken.None));
        // The lock was released: a fixed build can migrate straight away.
        Assert.Equal(0, await NewRunner().ApplyPendingAsync(CancellationToken.None));
    }
}
