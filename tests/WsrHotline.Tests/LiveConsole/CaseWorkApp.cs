using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>One timeline entry as a test reads it.</summary>
public sealed record TimelineRow(string Kind, string ActorKind, int? ActorStaffId, string Details);

/// <summary>
/// The app over a fresh database for the case-work tests, with a small Code (one earlier version,
/// the one in force with a zero-tolerance provision), two suppliers and their buyers, and four
/// signed-in staff: two Spanish-speaking investigators of teams north and south, a coordinator and
/// an admin.
/// </summary>
public sealed class CaseWorkApp : IAsyncLifetime
{
    private string database = "";
    private int phoneCounter;

    public HotlineFactory Factory { get; private set; } = null!;

    public NpgsqlDataSource DataSource => Factory.Services.GetRequiredService<NpgsqlDataSource>();

    public StaffSession North { get; private set; } = null!;

    public StaffSession South { get; private set; } = null!;

    public StaffSession Coordinator { get; private set; } = null!;

    public StaffSession Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        database = await PostgresServer.CreateMigratedDatabaseAsync();
        Factory = new HotlineFactory(PostgresServer.ConnectionStringFor(database));
        var dataSource = DataSource;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO languages (code, name, native_name) VALUES ('es', 'Spanish', 'Español'), ('bn', 'Bengali', 'বাংলা')
                ON CONFLICT DO NOTHING;
                INSERT INTO code_versions (name, version, effective_from) VALUES ('Test Code', '0.9', date '2020-01-01'),
                                                                              ('Test Code', '1.0', date '2025-01-01'),
                                                                              ('Test Code', '2.0', date '2999-01-01');
                INSERT INTO provisions (code_version_id, number, title, zero_tolerance)
                SELECT v.id, p.number, p.title, p.zero_tolerance
                FROM (VALUES ('0.9', '9.9', 'Old provision', false),
                             ('1.0', '1.1', 'No forced labour', true),
                             ('1.0', '2.1', 'Wages paid in full', false),
                             ('1.0', '4.1', 'No retaliation', false),
                             ('2.0', '7.7', 'Future provision', false)) AS p (version, number, title, zero_tolerance)
                JOIN code_versions v ON v.version = p.version;
                INSERT INTO suppliers (name, country, program_status) VALUES ('Sunny Farms', 'US', 'participating'),
                                                                             ('Lake Packing', 'US', 'outside_program');
                INSERT INTO buyers (name) VALUES ('FreshMart'), ('GreenLeaf');
                INSERT INTO supplier_buyers (supplier_id, buyer_id)
                SELECT s.id, b.id FROM suppliers s, buyers b WHERE s.name = 'Sunny Farms';
                """);
        }
        await StaffSession.CreateStaffAsync(dataSource, "north@test", "investigator", team: "north", languages: ["es"], displayName: "Nora North");
        await StaffSession.CreateStaffAsync(dataSource, "south@test", "investigator", team: "south", languages: ["es"], displayName: "Sam South");
        await StaffSession.CreateStaffAsync(dataSource, "coord@test", "coordinator", languages: ["es", "bn"], displayName: "Cora Coordinator");
        await StaffSession.CreateStaffAsync(dataSource, "admin@test", "admin", displayName: "Ada Admin");
        North = await StaffSession.SignInAsync(Factory, "north@test");
        South = await StaffSession.SignInAsync(Factory, "south@test");
        Coordinator = await StaffSession.SignInAsync(Factory, "coord@test");
        Admin = await StaffSession.SignInAsync(Factory, "admin@test");
    }

    public async Task DisposeAsync()
    {
        foreach (var session in new[] { North, South, Coordinator, Admin })
        {
            session?.Dispose();
        }
        await Factory.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(database);
    }

    /// <summary>A new Spanish complaint from a worker's phone (each call a new number); returns its id and the number.</summary>
    public async Task<(long Id, string Phone)> OpenCaseAsync(string language = "es")
    {
        var phone = "+1555555" + Interlocked.Increment(ref phoneCounter).ToString("0000", System.Globalization.CultureInfo.InvariantCulture);
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var identity = await Factory.Services.GetRequiredService<CallerIdentities>()
            .FindOrCreateAsync(connection, transaction, phone, language, CancellationToken.None);
        var complaint = await Complaints.OpenAsync(connection, transaction, Channels.Sms, language, identity, CancellationToken.None);
        await transaction.CommitAsync();
        return (complaint.Id, phone);
    }

    /// <summary>The case's timeline entries written by staff, in order.</summary>
    /// <summary>What staff did on the case (the clocks' own entries, which follow each move, left out).</summary>
    public async Task<List<TimelineRow>> StaffTimelineAsync(long complaintId)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<TimelineRow>("""
            SELECT kind, actor_kind, actor_staff_id, details::text AS details FROM case_timeline
            WHERE complaint_id = @complaintId AND actor_kind = 'staff' AND kind NOT LIKE 'clock%' ORDER BY id
            """, new { complaintId })];
    }

    public async Task<List<T>> QueryAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<T>(sql, parameters)];
    }

    public async Task<T> ScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, parameters))!;
    }
}
