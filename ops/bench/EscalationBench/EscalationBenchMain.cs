using System.Diagnostics;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Dashboard;
using WsrHotline.Database;
using WsrHotline.Deadlines;
using WsrHotline.Escalation;

namespace EscalationBench;

/// <summary>
/// ops/bench/escalation.sh: a million complaints (bulk-loaded with generate_series), then
/// 1. the sweep with nothing due (idle), against a bare SELECT 1 round trip;
/// 2. 10,000 clocks made overdue past the buyer grace, and one sweep to record their escalations,
///    against a single INSERT … SELECT of as many rows (the least the database must do);
/// 3. each dashboard query, p50/p95, against one count(*) over the complaints.
/// Calls the app's own services (DeadlineSweep, DashboardQueries) on the given database.
/// </summary>
public static class EscalationBenchMain
{
    public static async Task<int> Main(string[] args)
    {
        if (args is not ["--connection", var adminConnection, ..])
        {
            await Console.Error.WriteLineAsync("usage: EscalationBench --connection CONNECTION_STRING [--complaints 1000000] [--overdue 10000]\n" +
                "  (the connection's server gets a fresh database wsr_bench_escalation, dropped again at the end)");
            return 2;
        }
        var complaints = Option(args, "--complaints", 1_000_000);
        var overdue = Option(args, "--overdue", 10_000);
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        await using (var admin = new NpgsqlConnection(adminConnection))
        {
            await admin.OpenAsync();
            await admin.ExecuteAsync("DROP DATABASE IF EXISTS wsr_bench_escalation WITH (FORCE)");
            await admin.ExecuteAsync("CREATE DATABASE wsr_bench_escalation");
        }
        var connectionString = new NpgsqlConnectionStringBuilder(adminConnection) { Database = "wsr_bench_escalation", ApplicationName = "escalation-bench" }.ConnectionString;
        await using var dataSource = new NpgsqlDataSourceBuilder(connectionString) { ConnectionStringBuilder = { MaxAutoPrepare = 64, AutoPrepareMinUsages = 2 } }.Build();
        await new MigrationRunner(dataSource, NullLogger<MigrationRunner>.Instance).ApplyPendingAsync(CancellationToken.None);
        await ClockPolicySync.SyncAsync(dataSource, new ClocksOptions(), CancellationToken.None);

        var load = Stopwatch.StartNew();
        await LoadAsync(dataSource, complaints);
        Console.WriteLine($"loaded {complaints:N0} complaints in {load.Elapsed.TotalSeconds:F1} s");

        var escalation = Options.Create(new EscalationOptions { CoordinatorEmails = ["coordinators@hotline.example"], SweepBatchSize = 1000 });
        // No Hangfire storage here: the sweep's delivery jobs are counted, not enqueued (this measures the recording).
        var deliveryJobs = new CountedJobs();
        var sweep = new DeadlineSweep(dataSource, TimeProvider.System, escalation, deliveryJobs, NullLogger<DeadlineSweep>.Instance);
        var dashboard = new DashboardQueries(dataSource, TimeProvider.System, escalation);

        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            Console.WriteLine("\nthe sweep's claim, planned over the loaded data:");
            foreach (var line in await connection.QueryAsync<string>("""
                EXPLAIN SELECT d.id FROM deadlines d JOIN complaints c ON c.id = d.complaint_id
                WHERE d.met_at IS NULL AND d.next_check_at <= now() ORDER BY d.next_check_at LIMIT 1000 FOR UPDATE OF d SKIP LOCKED
                """))
            {
                Console.WriteLine("  " + line);
            }
        }

        // 1. Nothing due.
        var idle = await TimeAsync(50, () => sweep.SweepAsync(CancellationToken.None));
        var roundTrip = await TimeAsync(50, async () =>
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteScalarAsync<int>("SELECT 1");
        });
        Console.WriteLine($"\nidle sweep: p50 {idle.P50:F2} ms, p95 {idle.P95:F2} ms (target < 20 ms); " +
                          $"bare SELECT 1 round trip p50 {roundTrip.P50:F2} ms: ratio {idle.P50 / roundTrip.P50:F1}x");

        // 2. 10,000 clocks past their due time and the buyer grace.
        int made;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            made = await connection.ExecuteAsync("""
                UPDATE deadlines SET starts_at = now() - interval '20 days', due_at = now() - interval '3 days', next_check_at = now() - interval '1 minute'
                WHERE id IN (SELECT id FROM deadlines WHERE met_at IS NULL AND kind = 'resolved' ORDER BY id LIMIT @overdue)
                """, new { overdue }, commandTimeout: 600);
        }
        var clock = Stopwatch.StartNew();
        var steps = await sweep.SweepAsync(CancellationToken.None);
        var sweepSeconds = clock.Elapsed.TotalSeconds;
        var baseline = await BaselineInsertAsync(dataSource, steps);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            var escalated = await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM deadlines WHERE escalated_at IS NOT NULL");
            Console.WriteLine($"\nsweep of {made:N0} overdue clocks: {sweepSeconds:F2} s (target < 10 s), {escalated:N0} clocks escalated, " +
                              $"{steps:N0} escalation rows (coordinator console + e-mail, buyer webhooks) with their events and timeline entries; " +
                              $"baseline INSERT…SELECT of {steps:N0} rows: {baseline:F2} s, ratio {sweepSeconds / baseline:F1}x");
            Console.WriteLine($"  ({deliveryJobs.Count:N0} delivery jobs to enqueue after the commits, not enqueued here)");
        }
        var idleAfter = await TimeAsync(50, () => sweep.SweepAsync(CancellationToken.None));
        Console.WriteLine($"idle sweep afterwards: p50 {idleAfter.P50:F2} ms, p95 {idleAfter.P95:F2} ms");

        // 3. The dashboard.
        var scan = await TimeAsync(10, async () =>
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM complaints");
        });
        // The first refresh counts every opening day; later ones only the days whose complaints changed.
        var refresh = Stopwatch.StartNew();
        await dashboard.RefreshSnapshotAsync(CancellationToken.None);
        Console.WriteLine($"\ndashboard snapshot, first refresh (every opening day counted): {refresh.Elapsed.TotalSeconds:F2} s");
        int days;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            // The worst minute: one complaint of every opening day is reclassified, so every day is counted again.
            days = await connection.ExecuteAsync("""
                UPDATE complaints SET severity = CASE severity WHEN 'standard' THEN 'retaliation' ELSE 'standard' END
                WHERE id IN (SELECT DISTINCT ON ((opened_at AT TIME ZONE 'UTC')::date) id FROM complaints ORDER BY (opened_at AT TIME ZONE 'UTC')::date)
                """, commandTimeout: 600);
        }
        refresh.Restart();
        await dashboard.RefreshSnapshotAsync(CancellationToken.None);
        Console.WriteLine($"dashboard snapshot, refresh after a change on each of the {days:N0} opening days: {refresh.Elapsed.TotalSeconds:F2} s");
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            // A busy minute: 100 complaints opened today and 100 changes to older ones.
            await connection.ExecuteAsync("""
                UPDATE complaints SET severity = CASE severity WHEN 'standard' THEN 'retaliation' ELSE 'standard' END
                WHERE id IN (SELECT id FROM complaints ORDER BY id DESC LIMIT 100) OR id IN (SELECT id FROM complaints WHERE id % 10000 = 7)
                """, commandTimeout: 600);
        }
        refresh.Restart();
        await dashboard.RefreshSnapshotAsync(CancellationToken.None);
        Console.WriteLine($"dashboard snapshot, refresh after a busy minute (the newest 100 and 100 older complaints changed): {refresh.Elapsed.TotalSeconds:F2} s");
        refresh.Restart();
        await dashboard.RefreshSnapshotAsync(CancellationToken.None);
        Console.WriteLine($"dashboard snapshot, refresh with nothing changed: {refresh.Elapsed.TotalSeconds:F2} s");
        Console.WriteLine($"dashboard queries over {complaints:N0} complaints, 30 runs each (target p95 < 200 ms); baseline count(*) over complaints p50 {scan.P50:F1} ms:");
        var all = new DashboardFilter();
        var spanish = new DashboardFilter(Language: "es");
        // Not at midnight: the partial day at the start of the range is counted live, the rest is pre-counted.
        var lastThirtyDays = new DashboardFilter(OpenedFrom: DateTimeOffset.UtcNow.AddDays(-30));
        var today = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        var lastYear = new DashboardFilter(OpenedFrom: today.AddDays(-365), OpenedTo: today);
        var queries = new (string Name, Func<Task> Run)[]
        {
            ("clocks due in 24 h", () => dashboard.DueSoonAsync(all, TimeSpan.FromHours(24), CancellationToken.None)),
            ("breached clocks", () => dashboard.BreachedAsync(all, CancellationToken.None)),
            ("escalations per buyer", () => dashboard.EscalationsByBuyerAsync(all, CancellationToken.None)),
            ("failed/dead deliveries", () => dashboard.FailedDeliveriesAsync(CancellationToken.None)),
            ("stalled complaints", () => dashboard.StalledAsync(all, 7, CancellationToken.None)),
            ("coverage gaps", () => dashboard.CoverageGapsAsync(CancellationToken.None)),
            ("counts (status, severity, language, supplier, provision)", () => dashboard.CountsAsync(all, CancellationToken.None)),
            ("counts, language = es", () => dashboard.CountsAsync(spanish, CancellationToken.None)),
            ("resolution median/p80, 90 days", () => dashboard.ResolutionTimesAsync(all, 90, CancellationToken.None)),
            ("resolution median/p80, 90 days, language = es (live)", () => dashboard.ResolutionTimesAsync(spanish, 90, CancellationToken.None)),
            ("counts, opened in the last 30 days (from 30 days ago to now)", () => dashboard.CountsAsync(lastThirtyDays, CancellationToken.None)),
            ("counts, opened in the last 30 days, language = es", () => dashboard.CountsAsync(lastThirtyDays with { Language = "es" }, CancellationToken.None)),
            ("counts, opened in the last 365 whole days", () => dashboard.CountsAsync(lastYear, CancellationToken.None)),
            ("outside the Program, opened in the last 30 days", () => dashboard.OutsideProgramAsync(lastThirtyDays, CancellationToken.None)),
            ("outside the Program", () => dashboard.OutsideProgramAsync(all, CancellationToken.None)),
        };
        foreach (var (name, run) in queries)
        {
            var timing = await TimeAsync(30, run);
            Console.WriteLine($"  {name,-58} p50 {timing.P50,7:F1} ms  p95 {timing.P95,7:F1} ms  ({timing.P50 / scan.P50:F2}x the count)");
        }

        // Left behind, the million complaints slow every other database on the server (autovacuum,
        // caches): the voice benchmark's IVR writes took 4 ms longer each beside them.
        await using (var admin = new NpgsqlConnection(adminConnection))
        {
            await admin.OpenAsync();
            await admin.ExecuteAsync("DROP DATABASE IF EXISTS wsr_bench_escalation WITH (FORCE)");
        }
        return 0;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static async Task<(double P50, double P95)> TimeAsync(int runs, Func<Task> run)
    {
        await run();
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            await run();
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[(int)(runs * 0.5)], times[Math.Min(runs - 1, (int)Math.Ceiling(runs * 0.95) - 1)]);
    }

    /// <summary>The least the database must do for as many escalation rows: one INSERT … SELECT (rolled back).</summary>
    private static async Task<double> BaselineInsertAsync(NpgsqlDataSource dataSource, int rows)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var watch = Stopwatch.StartNew();
        await connection.ExecuteAsync("""
            INSERT INTO escalations (complaint_id, deadline_id, level, channel, status, payload)
            SELECT complaint_id, id, 'investigator_warning', 'console', 'sent', '{"bench": true}'
            FROM deadlines WHERE met_at IS NULL ORDER BY id DESC LIMIT @rows
            """, new { rows }, transaction, commandTimeout: 600);
        var seconds = watch.Elapsed.TotalSeconds;
        await transaction.RollbackAsync();
        return seconds;
    }

    /// <summary>
    /// The data: 4 languages, 220 suppliers (20 outside the Program) each sold to two of 50 buyers with a
    /// webhook contact, 30 provisions; complaints over two years, 85 % closed (within 1–60 days), one
    /// provision each; every open complaint (opened in the last day and a half) has its proposal and
    /// resolution clocks running, every closed one a met resolution clock. Nothing is due when loading ends.
    /// </summary>
    private static async Task LoadAsync(NpgsqlDataSource dataSource, int complaints)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO languages (code, name, native_name) VALUES ('en', 'English', 'English'), ('es', 'Spanish', 'Español'),
                ('ht', 'Haitian Creole', 'Kreyòl'), ('bn', 'Bengali', 'বাংলা') ON CONFLICT DO NOTHING;
            INSERT INTO suppliers (name, program_status)
                SELECT 'Supplier ' || i, CASE WHEN i > 200 THEN 'outside_program' ELSE 'participating' END FROM generate_series(1, 220) i;
            INSERT INTO buyers (name) SELECT 'Buyer ' || i FROM generate_series(1, 50) i;
            INSERT INTO supplier_buyers (supplier_id, buyer_id)
                SELECT s.id, b.id FROM suppliers s JOIN buyers b ON b.id IN ((s.id % 50) + 1, ((s.id + 7) % 50) + 1) WHERE s.program_status = 'participating';
            INSERT INTO buyer_contacts (buyer_id, kind, name, address) SELECT id, 'webhook', 'compliance', 'http://127.0.0.1:9/buyer/' || id FROM buyers;
            INSERT INTO code_versions (name, version, effective_from) VALUES ('Code', '1', '2024-01-01');
            INSERT INTO provisions (code_version_id, number, title, zero_tolerance)
                SELECT 1, '1.' || i, 'Provision ' || i, i <= 3 FROM generate_series(1, 30) i;
            """, commandTimeout: 600);
        await connection.ExecuteAsync("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code, severity, status, supplier_id, shareable_summary,
                                    opened_at, last_activity_at, closed_at)
            SELECT lpad(i::text, 8, '0'), 'bench', (ARRAY['voice', 'sms', 'whatsapp'])[1 + i % 3], (ARRAY['en', 'es', 'ht', 'bn'])[1 + i % 4],
                   CASE WHEN i % 20 = 0 THEN 'retaliation' WHEN i % 97 = 0 THEN 'zero_tolerance' ELSE 'standard' END,
                   CASE WHEN i % 100 < 15 THEN (ARRAY['received', 'acknowledged', 'investigating', 'resolution_proposed'])[1 + i % 4]
                        WHEN i % 100 < 80 THEN 'resolved' WHEN i % 100 < 90 THEN 'verified' ELSE 'not_substantiated' END,
                   1 + i % 220, 'Summary ' || i,
                   o.opened_at, o.opened_at + interval '1 day' * (i % 9),
                   CASE WHEN i % 100 >= 15 THEN o.opened_at + interval '1 hour' * (24 + (i * 7919) % 1416) END
            FROM generate_series(1::bigint, @complaints) i
            CROSS JOIN LATERAL (SELECT CASE WHEN i % 100 < 15 THEN now() - interval '1 minute' * (i % 2000)
                                            ELSE now() - interval '1 minute' * ((i * 104729) % 1051200) END AS opened_at) o
            """, new { complaints }, commandTimeout: 1800);
        await connection.ExecuteAsync("""
            INSERT INTO complaint_provisions (complaint_id, provision_id) SELECT id, 1 + id % 30 FROM complaints;
            INSERT INTO deadlines (complaint_id, kind, starts_at, due_at, next_check_at)
                SELECT c.id, p.kind, c.opened_at, c.opened_at + p.due_after, c.opened_at + p.due_after * p.warn_fraction
                FROM complaints c JOIN clock_policies p ON p.severity = c.severity AND p.anchor = 'opened'
                WHERE c.status IN ('received', 'acknowledged', 'investigating', 'resolution_proposed') AND p.kind IN ('resolution_proposed', 'resolved');
            INSERT INTO deadlines (complaint_id, kind, starts_at, due_at, met_at, met_reason)
                SELECT id, 'resolved', opened_at, opened_at + interval '14 days', closed_at, 'met' FROM complaints WHERE closed_at IS NOT NULL;
            """, commandTimeout: 1800);
        await connection.ExecuteAsync("VACUUM ANALYZE", commandTimeout: 1800);
    }
}

/// <summary>Takes the sweep's delivery jobs without storing them: the bench has no Hangfire storage.</summary>
internal sealed class CountedJobs : Hangfire.IBackgroundJobClient
{
    private int _count;

    public int Count => _count;

    public string Create(Hangfire.Common.Job job, Hangfire.States.IState state) =>
        Interlocked.Increment(ref _count).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState) => true;
}
