using Dapper;
using Hangfire.PostgreSql;
using Npgsql;

namespace WsrHotline.Jobs;

/// <summary>
/// Hangfire's tables, in schema <c>hangfire</c> of the hotline's database, installed or upgraded by
/// the start-up step (and by <c>migrate</c>) with Hangfire.PostgreSql's own installer.
/// </summary>
/// <remarks>
/// Not by the storage's <c>PrepareSchemaIfNecessary</c>: that runs in the storage's constructor,
/// which with PostgreSQL down at start blocks the host's start for its retries, and it takes no
/// lock. Its installer applies each version in a serializable transaction but two instances
/// starting together on a new database can still collide (concurrent <c>CREATE TABLE IF NOT
/// EXISTS</c> of one table fails on a catalog index), so installs are serialized here under an
/// advisory lock of their own. Not the migrations' lock: Hangfire's schema shares nothing with ours,
/// so the two need no order, and our runner keeps its lock only while it applies our files.
/// </remarks>
public static class JobsSchema
{
    public const string Name = "hangfire";

    // Any constant shared by every instance; "WSRHANG" in ASCII.
    private const long AdvisoryLockKey = 0x57535248414E47;

    public static async Task InstallAsync(string connectionString, CancellationToken cancellationToken)
    {
        // A connection of its own, not from the app's pool: the installer's scripts set search_path
        // (and reset it), and the session's advisory lock ends with the connection.
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "wsr-hotline-jobs-schema" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_lock(@key)", new { key = AdvisoryLockKey }, cancellationToken: cancellationToken));
        // Up to date (every start but the first after an upgrade): one short query per version.
        PostgreSqlObjectsInstaller.Install(connection, Name);
    }
}
