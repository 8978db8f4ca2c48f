using System.Net;
using Dapper;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WsrHotline.Demo;
using WsrHotline.Staff;
using WsrHotline.Tests.Hosting;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Demo;

public sealed class DemoSeedTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private DemoSeeder Seeder() => new(database.DataSource, Options.Create(new DemoOptions { SeedOnStart = true }),
        TimeProvider.System, NullLogger<DemoSeeder>.Instance);

    [Fact]
    public async Task Seeding_twice_gives_the_same_data_and_a_rota_that_covers_every_language_around_the_clock()
    {
        await Seeder().SeedAsync(CancellationToken.None);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var countsBefore = await CountsAsync();
        await Seeder().SeedAsync(CancellationToken.None);

        Assert.Equal(countsBefore, await CountsAsync());
        Assert.Equal(["bn", "en", "es", "ht"], await connection.QueryAsync<string>("SELECT code FROM languages ORDER BY code"));

        // Every hour of the next 72, every language has someone on tier 1 and on tier 2.
        var gaps = await connection.QueryAsync<string>("""
            SELECT l.code || ' tier ' || t.tier || ' at ' || h
            FROM languages l
            CROSS JOIN (VALUES (1), (2)) AS t (tier)
            CROSS JOIN generate_series(date_trunc('hour', now()), now() + interval '72 hours', interval '1 hour') AS h
            WHERE NOT EXISTS (SELECT 1 FROM oncall_shifts s
                              WHERE s.language_code = l.code AND s.tier = t.tier AND s.starts_at <= h AND s.ends_at > h)
            """);
        Assert.Empty(gaps);

        // Whoever is on call for a language speaks it.
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("""
            SELECT count(*) FROM oncall_shifts s
            WHERE NOT EXISTS (SELECT 1 FROM staff_languages sl WHERE sl.staff_id = s.staff_id AND sl.language_code = s.language_code)
            """));

        async Task<(int, int, int, int, int, int)> CountsAsync() =>
            await connection.QuerySingleAsync<(int, int, int, int, int, int)>("""
                SELECT (SELECT count(*)::int FROM staff), (SELECT count(*)::int FROM oncall_shifts),
                       (SELECT count(*)::int FROM suppliers), (SELECT count(*)::int FROM supplier_buyers),
                       (SELECT count(*)::int FROM provisions), (SELECT count(*)::int FROM buyer_contacts)
                """);
    }

    [Fact]
    public async Task Demo_staff_can_sign_in_with_the_printed_passwords_and_the_code_marks_zero_tolerance()
    {
        await Seeder().SeedAsync(CancellationToken.None);
        await using var connection = await database.DataSource.OpenConnectionAsync();

        var maria = await connection.QuerySingleAsync<(int Id, string Email, string Hash, string Role)>(
            "SELECT id, email, password_hash, role FROM staff WHERE email = 'maria@hotline.example'");
        var outsideBuyers = await connection.ExecuteScalarAsync<int>("""
            SELECT count(*) FROM supplier_buyers sb JOIN suppliers s ON s.id = sb.supplier_id WHERE s.program_status = 'outside_program'
            """);
        var zeroTolerance = await connection.QueryAsync<string>("SELECT number FROM provisions WHERE zero_tolerance ORDER BY number");

        Assert.Equal("investigator", maria.Role);
        Assert.NotEqual(PasswordVerificationResult.Failed, StaffPasswords.Verify(new StaffMember(maria.Id, maria.Email), maria.Hash, "demo-maria"));
        Assert.Equal(PasswordVerificationResult.Failed, StaffPasswords.Verify(new StaffMember(maria.Id, maria.Email), maria.Hash, "wrong"));
        Assert.Equal(0, outsideBuyers);
        Assert.Equal(["1.1", "1.2", "1.3"], zeroTolerance);
    }
}

/// <summary>The local run as ops/run.sh starts it: Development, generated keys, demo data.</summary>
public sealed class LocalRunTests
{
    [Fact]
    public async Task Development_generates_its_pii_keys_once_and_seeds_the_demo()
    {
        var name = await PostgresServer.CreateEmptyDatabaseAsync();
        var keyFile = Path.Combine(Path.GetTempPath(), $"wsr-dev-keys-{Guid.NewGuid():N}.json");
        try
        {
            void Development(Dictionary<string, string?> settings)
            {
                settings.Remove($"Pii:Keys:{TestKeys.PiiKeyId}");
                settings.Remove("Pii:ActiveKeyId");
                settings.Remove("Pii:LookupKey");
                settings["Pii:DevelopmentKeyFile"] = keyFile;
                settings["Demo:SeedOnStart"] = "true";
            }
            await using (var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(name), Development, "Development"))
            {
                using var client = factory.CreateClient();
                Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);
            }
            var firstKeys = await File.ReadAllTextAsync(keyFile);
            await using (var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(name), Development, "Development"))
            {
                using var client = factory.CreateClient();
                Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);
            }

            Assert.Equal(firstKeys, await File.ReadAllTextAsync(keyFile));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            }
            await using var connection = new Npgsql.NpgsqlConnection(PostgresServer.ConnectionStringFor(name));
            Assert.Equal(8, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM staff"));
        }
        finally
        {
            File.Delete(keyFile);
            await PostgresServer.DropDatabaseAsync(name);
        }
    }
}
