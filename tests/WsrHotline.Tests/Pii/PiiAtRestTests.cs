using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.Pii;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Pii;

/// <summary>
/// After a worker has called and texted, a full dump of the database holds neither their number nor
/// their name nor their words, and neither do the logs.
/// </summary>
public sealed class PiiAtRestTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string Number = "+15555550123";
    private const string Name = "Rosa Martínez Quispe";
    private const string Words = "El mayordomo me amenazó por quejarme del agua";

    [Fact]
    public async Task A_database_dump_after_intake_holds_no_caller_number_name_or_words_in_clear()
    {
        await using var factory = new HotlineFactory(database.ConnectionString);
        var services = factory.Services;
        var identities = services.GetRequiredService<CallerIdentities>();
        var pii = services.GetRequiredService<PiiProtector>();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        long identity;
        OpenedComplaint complaint;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("INSERT INTO languages (code, name, native_name) VALUES ('es', 'Spanish', 'Español') ON CONFLICT DO NOTHING");
            await using var transaction = await connection.BeginTransactionAsync();
            identity = await identities.FindOrCreateAsync(connection, transaction, CallerNumber.Normalize("whatsapp:" + Number)!, "es", CancellationToken.None);
            await identities.SetNameAsync(connection, transaction, identity, Name, CancellationToken.None);
            complaint = await Complaints.OpenAsync(connection, transaction, Channels.WhatsApp, "es", identity, CancellationToken.None);
            await connection.ExecuteAsync("""
                INSERT INTO messages (message_sid, direction, channel, caller_identity_id, complaint_id, body_encrypted, status)
                VALUES ('SM-pii-1', 'inbound', 'whatsapp', @identity, @complaint, @body, 'received')
                """, new { identity, complaint = complaint.Id, body = pii.Encrypt(Words, PiiPurpose.MessageBody) }, transaction);
            await transaction.CommitAsync();
        }

        // The same number, texted again by SMS, is the same worker.
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            Assert.Equal(identity, await identities.FindOrCreateAsync(connection, null, CallerNumber.Normalize(Number)!, null, CancellationToken.None));
            Assert.Equal(Number, await identities.RevealNumberAsync(connection, identity, CancellationToken.None));
        }

        var dump = await DumpAsync(database.Name);
        Assert.Contains(complaint.CaseNumber, dump, StringComparison.Ordinal); // the dump is real and complete
        foreach (var secret in new[] { "5555550123", "555-555-0123", "555 555 0123", Name, "Martínez", Words, "amenazó" })
        {
            Assert.DoesNotContain(secret, dump, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, factory.Logs.All, StringComparison.Ordinal);
        }
        Assert.DoesNotContain($"pin={complaint.Pin}", factory.Logs.All, StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<string> DumpAsync(string databaseName)
    {
        var connection = new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionStringFor(databaseName));
        var pgDump = Directory.GetFiles("/usr/lib/postgresql", "pg_dump", SearchOption.AllDirectories).Order().Last();
        var start = new ProcessStartInfo(pgDump, ["--data-only", "--inserts", "-h", connection.Host!, "-p", connection.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", connection.Username!, databaseName])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PGPASSWORD"] = connection.Password;
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, errors);
        return output;
    }
}
