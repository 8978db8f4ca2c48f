using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Faults;

/// <summary>
/// A PostgreSQL cluster of its own for one test, so it can be stopped and started without touching the
/// cluster the rest of the suite shares: initdb into a temporary folder (as the postgres user when run
/// as root), on a free loopback port, password authentication. Stopped and removed on dispose.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    private readonly string bin;
    private readonly string folder;
    private readonly string password = Guid.NewGuid().ToString("N");

    private ThrowawayPostgres(string bin, string folder, int port)
    {
        this.bin = bin;
        this.folder = folder;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(folder, "data");

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = Port, Username = "postgres", Password = password, Database = database,
    }.ConnectionString;

    /// <summary>Creates and starts the cluster, with one migrated database <paramref name="database"/>.</summary>
    public static async Task<ThrowawayPostgres> StartAsync(string database)
    {
        var bin = Directory.GetDirectories("/usr/lib/postgresql")
            .Select(version => Path.Combine(version, "bin"))
            .Where(candidate => File.Exists(Path.Combine(candidate, "initdb")))
            .OrderByDescending(candidate => int.TryParse(Path.GetFileName(Path.GetDirectoryName(candidate)), out var v) ? v : 0)
            .FirstOrDefault() ?? throw new InvalidOperationException("No PostgreSQL under /usr/lib/postgresql (ops/db-up.sh installs it).");
        var folder = Path.Combine(Path.GetTempPath(), "wsr-faults-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        var cluster = new ThrowawayPostgres(bin, folder, TestHostOptions.FreeLoopbackPort());
        try
        {
            var passwordFile = Path.Combine(folder, "pw");
            await File.WriteAllTextAsync(passwordFile, cluster.password + "\n");
            if (IsRoot)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", folder]);
            }
            await cluster.AsPostgresAsync("initdb", "-D", cluster.DataDirectory, "-U", "postgres", $"--pwfile={passwordFile}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync");
            await File.AppendAllTextAsync(Path.Combine(cluster.DataDirectory, "postgresql.conf"), $"""

                listen_addresses = '127.0.0.1'
                port = {cluster.Port}
                unix_socket_directories = '{folder}'
                max_connections = 300
                fsync = off
                """);
            await cluster.StartPostgresAsync();
            await using (var admin = new NpgsqlConnection(cluster.ConnectionStringFor("postgres")))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
                await create.ExecuteNonQueryAsync();
            }
            await using (var dataSource = NpgsqlDataSource.Create(cluster.ConnectionStringFor(database)))
            {
                await new MigrationRunner(dataSource, NullLogger<MigrationRunner>.Instance).ApplyPendingAsync(CancellationToken.None);
            }
            NpgsqlConnection.ClearAllPools();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>pg_ctl stop -m fast</c>: sessions are ended and their transactions rolled back, like a real restart.</summary>
    public Task StopPostgresAsync() => AsPostgresAsync("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop");

    public Task StartPostgresAsync() =>
        AsPostgresAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(folder, "log"), "-w", "-t", "60", "start");

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                await AsPostgresAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop");
            }
            catch (InvalidOperationException)
            {
                // Already stopped.
            }
        }
        NpgsqlConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }

    private static bool IsRoot => Environment.UserName == "root";

    private Task AsPostgresAsync(string tool, params string[] arguments) =>
        IsRoot
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(bin, tool), .. arguments])
            : RunAsync(Path.Combine(bin, tool), arguments);

    private static async Task RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output}{await errors}");
        }
    }
}
