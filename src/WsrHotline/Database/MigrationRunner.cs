using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;

namespace WsrHotline.Database;

/// <summary>One migration: an embedded <c>Migrations/NNNN_name.sql</c> file.</summary>
public sealed record Migration(string Version, string Name, string Sql, string Checksum);

/// <summary>
/// Applies the embedded <c>.sql</c> files in order, each in its own transaction, journaled in
/// <c>schema_migrations</c>, under a PostgreSQL advisory lock so that several instances starting at
/// once apply each file exactly once. A file that was applied and then edited stops the run: fix it
/// with a new file instead.
/// </summary>
public sealed partial class MigrationRunner(
    NpgsqlDataSource dataSource, ILogger<MigrationRunner> logger, IReadOnlyList<Migration>? migrations = null)
{
    private readonly IReadOnlyList<Migration> _migrations = migrations ?? Embedded;

    // Any constant shared by every instance; "WSRMIGR" in ASCII.
    private const long AdvisoryLockKey = 0x5753524D494752;

    public static IReadOnlyList<Migration> Embedded { get; } = LoadEmbedded();

    /// <summary>Applies what is pending; returns how many files were applied (0 when up to date).</summary>
    public async Task<int> ApplyPendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_lock(@key)", new { key = AdvisoryLockKey }, cancellationToken: cancellationToken));
        try
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, cancellationToken: cancellationToken));

            var applied = await ReadJournalAsync(connection, cancellationToken);
            var count = 0;
            foreach (var migration in _migrations)
            {
                if (applied.TryGetValue(migration.Version, out var checksum))
                {
                    if (checksum != migration.Checksum)
                    {
                        throw new InvalidOperationException(
                            $"Migration {migration.Version}_{migration.Name}.sql was changed after it was applied. " +
                            "Applied migrations are never edited: restore it and add a new file.");
                    }
                    continue;
                }

                await ApplyAsync(connection, migration, cancellationToken);
                LogApplied(logger, migration.Version, migration.Name);
                count++;
            }
            return count;
        }
        finally
        {
            await connection.ExecuteAsync(
                "SELECT pg_advisory_unlock(@key)", new { key = AdvisoryLockKey });
        }
    }

    /// <summary>The versions embedded in this build that the database has not applied yet.</summary>
    public async Task<IReadOnlyList<string>> PendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var exists = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", cancellationToken: cancellationToken));
        if (!exists)
        {
            return [.. _migrations.Select(m => m.Version)];
        }
        var applied = await ReadJournalAsync(connection, cancellationToken);
        return [.. _migrations.Where(m => !applied.ContainsKey(m.Version)).Select(m => m.Version)];
    }

    private static async Task<Dictionary<string, string>> ReadJournalAsync(
        NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = await connection.QueryAsync<(string Version, string Checksum)>(new CommandDefinition(
            "SELECT version, checksum FROM schema_migrations", cancellationToken: cancellationToken));
        return rows.ToDictionary(row => row.Version, row => row.Checksum);
    }

    private static async Task ApplyAsync(
        NpgsqlConnection connection, Migration migration, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Plain NpgsqlCommand, not Dapper: migration text is run as written, with no parameter parsing.
        await using (var command = new NpgsqlCommand(migration.Sql, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (@Version, @Name, @Checksum)",
            migration, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    private static List<Migration> LoadEmbedded()
    {
        var assembly = typeof(MigrationRunner).Assembly;
        const string prefix = "WsrHotline.Database.Migrations.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var fileName = resource[prefix.Length..^".sql".Length];
            var separator = fileName.IndexOf('_', StringComparison.Ordinal);
            if (separator <= 0)
            {
                throw new InvalidOperationException($"Migration file {fileName}.sql must be named NNNN_description.sql.");
            }
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var sql = reader.ReadToEnd();
            var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n"))));
            migrations.Add(new Migration(fileName[..separator], fileName[(separator + 1)..], sql, checksum));
        }
        return [.. migrations.OrderBy(m => m.Version, StringComparer.Ordinal)];
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Applied migration {Version} ({Name})")]
    private static partial void LogApplied(ILogger logger, string version, string name);
}
