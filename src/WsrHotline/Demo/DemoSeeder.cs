using System.Globalization;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Staff;

namespace WsrHotline.Demo;

/// <summary>
/// Demo data for local runs, demos and training: idempotent, so every start of the local run can
/// call it; the rota is extended so that it always covers the coming days around the clock.
/// </summary>
public sealed partial class DemoSeeder(
    NpgsqlDataSource dataSource, IOptions<DemoOptions> options, TimeProvider time, ILogger<DemoSeeder> logger)
{
    private sealed record DemoStaff(string Email, string Name, string Role, string Team, string Phone, string[] Languages)
    {
        public string Password => "demo-" + Email.Split('@')[0];
    }

    private static readonly DemoStaff[] People =
    [
        new("maria@hotline.example", "María López", "investigator", "Florida", "+15555550111", ["es", "en"]),
        new("carlos@hotline.example", "Carlos Ruiz", "investigator", "Florida", "+15555550112", ["es"]),
        new("jeanbaptiste@hotline.example", "Jean-Baptiste Pierre", "investigator", "Florida", "+15555550113", ["ht", "en"]),
        new("nadege@hotline.example", "Nadège Joseph", "investigator", "Florida", "+15555550114", ["ht", "es"]),
        new("rahima@hotline.example", "Rahima Akter", "investigator", "Bangladesh", "+15555550115", ["bn", "en"]),
        new("tanvir@hotline.example", "Tanvir Hossain", "investigator", "Bangladesh", "+15555550116", ["bn"]),
        new("ana@hotline.example", "Ana Ortiz", "coordinator", "Florida", "+15555550117", ["es", "en"]),
        new("admin@hotline.example", "Hotline Admin", "admin", "Operations", "+15555550118", ["en"]),
    ];

    // Who is on call: per language, tier 1 and tier 2, a day shift (07–19) and a night shift (19–07)
    // in the language's planning time zone, so every hour of every day is covered twice over.
    private sealed record RotaLine(string Language, string TimeZone, int Tier, string DayEmail, string NightEmail);

    private static readonly RotaLine[] Rota =
    [
        new("es", "America/New_York", 1, "maria@hotline.example", "carlos@hotline.example"),
        new("es", "America/New_York", 2, "nadege@hotline.example", "ana@hotline.example"),
        new("ht", "America/New_York", 1, "nadege@hotline.example", "jeanbaptiste@hotline.example"),
        new("ht", "America/New_York", 2, "jeanbaptiste@hotline.example", "nadege@hotline.example"),
        new("bn", "Asia/Dhaka", 1, "rahima@hotline.example", "tanvir@hotline.example"),
        new("bn", "Asia/Dhaka", 2, "tanvir@hotline.example", "rahima@hotline.example"),
        new("en", "America/New_York", 1, "maria@hotline.example", "jeanbaptiste@hotline.example"),
        new("en", "America/New_York", 2, "rahima@hotline.example", "ana@hotline.example"),
    ];

    public async Task SeedIfEnabledAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.SeedOnStart)
        {
            return;
        }
        await SeedAsync(cancellationToken);
        PrintSignIns();
    }

    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Two instances of the local run seeding at once must not interleave.
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(5753524445)", transaction: transaction);

        await SeedLanguagesAsync(connection, transaction);
        await SeedStaffAsync(connection, transaction);
        await SeedRotaAsync(connection, transaction);
        await SeedSuppliersAndBuyersAsync(connection, transaction);
        await SeedCodeAsync(connection, transaction);

        await transaction.CommitAsync(cancellationToken);
        LogSeeded(logger);
    }

    private static async Task SeedLanguagesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction) =>
        await connection.ExecuteAsync("""
            INSERT INTO languages (code, name, native_name) VALUES
                ('en', 'English', 'English'),
                ('es', 'Spanish', 'Español'),
                ('ht', 'Haitian Creole', 'Kreyòl ayisyen'),
                ('bn', 'Bengali', 'বাংলা')
            ON CONFLICT (code) DO NOTHING
            """, transaction: transaction);

    private static async Task SeedStaffAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        foreach (var person in People)
        {
            var id = await connection.ExecuteScalarAsync<int?>(
                "SELECT id FROM staff WHERE lower(email) = lower(@Email)", person, transaction);
            if (id is null)
            {
                id = await connection.ExecuteScalarAsync<int>("""
                    INSERT INTO staff (email, display_name, role, team, phone_e164)
                    VALUES (@Email, @Name, @Role, @Team, @Phone)
                    RETURNING id
                    """, person, transaction);
                var hash = StaffPasswords.Hash(new StaffMember(id.Value, person.Email), person.Password);
                await connection.ExecuteAsync("UPDATE staff SET password_hash = @hash WHERE id = @id",
                    new { hash, id }, transaction);
            }
            await connection.ExecuteAsync("""
                INSERT INTO staff_languages (staff_id, language_code)
                SELECT @id, code FROM unnest(@Languages) AS code
                ON CONFLICT DO NOTHING
                """, new { id, person.Languages }, transaction);
        }
    }

    private async Task SeedRotaAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var staffIds = (await connection.QueryAsync<(string Email, int Id)>(
            "SELECT lower(email), id FROM staff", transaction: transaction)).ToDictionary(row => row.Email, row => row.Id);

        var shifts = new List<object>();
        foreach (var line in Rota)
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById(line.TimeZone);
            var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(time.GetUtcNow(), zone).DateTime);
            for (var day = today.AddDays(-1); day <= today.AddDays(options.Value.RotaDays); day = day.AddDays(1))
            {
                var dayStart = ToUtc(day, 7, zone);
                var nightStart = ToUtc(day, 19, zone);
                var nextDayStart = ToUtc(day.AddDays(1), 7, zone);
                shifts.Add(Shift(staffIds[line.DayEmail], line, dayStart, nightStart));
                shifts.Add(Shift(staffIds[line.NightEmail], line, nightStart, nextDayStart));
            }
        }
        await connection.ExecuteAsync("""
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
            VALUES (@StaffId, @Language, @Tier, @StartsAt, @EndsAt, @TimeZone)
            ON CONFLICT (staff_id, language_code, tier, starts_at) DO NOTHING
            """, shifts, transaction);
    }

    private static object Shift(int staffId, RotaLine line, DateTime startsAt, DateTime endsAt) =>
        new { StaffId = staffId, line.Language, Tier = (short)line.Tier, StartsAt = startsAt, EndsAt = endsAt, line.TimeZone };

    private static DateTime ToUtc(DateOnly day, int hour, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTimeToUtc(day.ToDateTime(new TimeOnly(hour, 0)), zone);

    private static async Task SeedSuppliersAndBuyersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        await connection.ExecuteAsync("""
            INSERT INTO suppliers (name, country, sector, program_status) VALUES
                ('Sunrise Tomato Farms', 'US', 'agriculture', 'participating'),
                ('Coastal Berry Growers', 'US', 'agriculture', 'participating'),
                ('Dhaka Knitwear Ltd', 'BD', 'garment', 'participating'),
                ('Lakeview Packing', 'US', 'agriculture', 'outside_program')
            ON CONFLICT (name) DO NOTHING;

            INSERT INTO buyers (name) VALUES ('FreshMart Grocers'), ('GreenLeaf Foods'), ('Northwind Apparel')
            ON CONFLICT (name) DO NOTHING;

            INSERT INTO supplier_buyers (supplier_id, buyer_id, since)
            SELECT s.id, b.id, date '2024-01-01'
            FROM (VALUES ('Sunrise Tomato Farms', 'FreshMart Grocers'),
                         ('Sunrise Tomato Farms', 'GreenLeaf Foods'),
                         ('Coastal Berry Growers', 'FreshMart Grocers'),
                         ('Dhaka Knitwear Ltd', 'Northwind Apparel')) AS pair (supplier, buyer)
            JOIN suppliers s ON s.name = pair.supplier
            JOIN buyers b ON b.name = pair.buyer
            ON CONFLICT DO NOTHING;

            INSERT INTO buyer_contacts (buyer_id, kind, name, address)
            SELECT b.id, contact.kind, contact.name, contact.address
            FROM (VALUES ('FreshMart Grocers', 'email', 'Supplier compliance', 'compliance@freshmart.example'),
                         ('FreshMart Grocers', 'webhook', 'Compliance system', 'https://compliance.freshmart.example/wsr/escalations'),
                         ('GreenLeaf Foods', 'email', 'Responsible sourcing', 'sourcing@greenleaf.example'),
                         ('Northwind Apparel', 'email', 'Social compliance', 'social.compliance@northwind.example')) AS contact (buyer, kind, name, address)
            JOIN buyers b ON b.name = contact.buyer
            ON CONFLICT DO NOTHING;
            """, transaction: transaction);
    }

    private static async Task SeedCodeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var codeId = await connection.ExecuteScalarAsync<int>("""
            INSERT INTO code_versions (name, version, effective_from) VALUES ('WSR Demo Code', '1.0', date '2026-01-01')
            ON CONFLICT (name, version) DO UPDATE SET effective_from = excluded.effective_from
            RETURNING id
            """, transaction: transaction);
        await connection.ExecuteAsync("""
            INSERT INTO provisions (code_version_id, number, title, zero_tolerance)
            SELECT @codeId, p.number, p.title, p.zero_tolerance
            FROM (VALUES ('1.1', 'No forced labour or trafficking', true),
                         ('1.2', 'No child labour', true),
                         ('1.3', 'No violence or sexual assault', true),
                         ('2.1', 'Wages paid in full and on time', false),
                         ('2.2', 'Overtime paid and voluntary', false),
                         ('3.1', 'Heat safety: water, shade and rest', false),
                         ('3.2', 'Safe handling of pesticides and chemicals', false),
                         ('4.1', 'No retaliation against complainants', false),
                         ('4.2', 'Freedom of association', false),
                         ('5.1', 'No sexual harassment', false),
                         ('6.1', 'Safe and decent housing', false)) AS p (number, title, zero_tolerance)
            ON CONFLICT (code_version_id, number) DO NOTHING
            """, new { codeId }, transaction);
    }

    private static void PrintSignIns()
    {
        var lines = new List<string> { "", "Demo sign-ins (local run only):" };
        lines.AddRange(People.Select(person => string.Create(CultureInfo.InvariantCulture,
            $"  {person.Role,-13} {person.Email,-30} password: {person.Password,-20} languages: {string.Join(",", person.Languages)}")));
        lines.Add("");
        Console.Out.WriteLine(string.Join(Environment.NewLine, lines));
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Demo data seeded")]
    private static partial void LogSeeded(ILogger logger);
}
