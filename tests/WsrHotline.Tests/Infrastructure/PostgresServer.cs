using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The real PostgreSQL the tests run against: the project's private cluster (ops/db-up.sh), or the
/// server named by WSR_TEST_ADMIN_CONNECTION. Databases are cloned from a template migrated once per
/// run, which is much faster than migrating each.
/// </summary>
public static class PostgresServer
{
    private static readonly Lazy<Task<string>> Template = new(CreateTemplateAsync);
    private static readonly Lazy<string> AdminConnection = new(FindAdminConnectionString);
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    // Lazy: a test that only needs the repository folder must not start a database.
    public static string AdminConnectionString => AdminConnection.Value;

    public static string RepositoryRoot => Root.Value;

    public static string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = database, Pooling = true }.ConnectionString;

    /// <summary>A new, fully migrated database of its own.</summary>
    public static async Task<string> CreateMigratedDatabaseAsync()
    {
        var template = await Template.Value;
        var name = NewDatabaseName();
        await ExecuteAdminAsync($"CREATE DATABASE {name} TEMPLATE {template}");
        return name;
    }

    /// <summary>A new database with nothing in it, for migration tests.</summary>
    public static async Task<string> CreateEmptyDatabaseAsync()
    {
        var name = NewDatabaseName();
        await ExecuteAdminAsync($"CREATE DATABASE {name}");
        return name;
    }

    public static async Task DropDatabaseAsync(string name)
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAdminAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    private static string NewDatabaseName() => "wsr_test_" + Guid.NewGuid().ToString("N")[..16];

    private static async Task ExecuteAdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await connection.ExecuteAsync(sql);
    }

    private static async Task<string> CreateTemplateAsync()
    {
        // Named after the migrations and the Hangfire schema it holds: a new migration, or a new
        // Hangfire.PostgreSql, makes a new template.
        var fingerprint = string.Join(",", MigrationRunner.Embedded.Select(m => m.Checksum))
            + "," + typeof(Hangfire.PostgreSql.PostgreSqlStorage).Assembly.GetName().Version;
        var name = "wsr_template_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(fingerprint)))[..16];

        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        // Test processes running side by side (several test projects) build the template once.
        await admin.ExecuteAsync("SELECT pg_advisory_lock(7711)");
        try
        {
            var exists = await admin.ExecuteScalarAsync<bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = @name)", new { name });
            if (!exists)
            {
                var building = name + "_building";
                await admin.ExecuteAsync($"DROP DATABASE IF EXISTS {building} WITH (FORCE)");
                await admin.ExecuteAsync($"CREATE DATABASE {building}");
                await using (var dataSource = NpgsqlDataSource.Create(ConnectionStringFor(building)))
                {
                    await new MigrationRunner(dataSource, NullLogger<MigrationRunner>.Instance).ApplyPendingAsync(CancellationToken.None);
                }
                // What the start-up step installs too: an app over a clone finds it up to date.
                await WsrHotline.Jobs.JobsSchema.InstallAsync(ConnectionStringFor(building), CancellationToken.None);
                NpgsqlConnection.ClearAllPools();
                await admin.ExecuteAsync($"ALTER DATABASE {building} RENAME TO {name}");
            }
        }
        finally
        {
            await admin.ExecuteAsync("SELECT pg_advisory_unlock(7711)");
        }
        return name;
    }

    private static string FindAdminConnectionString()
    {
        var configured = Environment.GetEnvironmentVariable("WSR_TEST_ADMIN_CONNECTION");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        // Run without ops/test.sh (an IDE, a bare `dotnet test`): start the private cluster ourselves.
        var script = Path.Combine(FindRepositoryRoot(), "ops", "db-up.sh");
        var start = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ops/db-up.sh failed ({process.ExitCode}): {errors}");
        }
        return new NpgsqlConnectionStringBuilder(output) { Database = "postgres" }.ConnectionString;
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "WsrHotline.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("WsrHotline.sln not found above " + AppContext.BaseDirectory);
    }
}
