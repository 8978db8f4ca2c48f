using System.Globalization;
using System.Text;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Escalation;

namespace WsrHotline.Dashboard;

/// <summary>The dashboard's filters; each one set narrows every figure that is about complaints.</summary>
public sealed record DashboardFilter(
    string? Language = null, string? Severity = null, string? Status = null, int? SupplierId = null, int? ProvisionId = null,
    DateTimeOffset? OpenedFrom = null, DateTimeOffset? OpenedTo = null);

public sealed record ClockRow(
    long DeadlineId, long ComplaintId, string CaseNumber, string Kind, DateTime DueAt, string LanguageCode, string Severity,
    string Status, string? AssignedTo, DateTime? BreachedAt, DateTime? EscalatedAt);

public sealed record ClockList(int Total, IReadOnlyList<ClockRow> Clocks);

public sealed record BuyerEscalationCount(int? BuyerId, string Buyer, string Status, int Count);

public sealed record FailedDelivery(long EscalationId, long ComplaintId, string CaseNumber, string? Buyer, string Channel, string Status, int Attempts, string? LastError, DateTime NextAttemptAt);

public sealed record StalledComplaint(long ComplaintId, string CaseNumber, string Status, string Severity, string LanguageCode, DateTime LastActivityAt, int DaysQuiet);

public sealed record StalledList(int Total, int AfterDays, IReadOnlyList<StalledComplaint> Complaints);

public sealed record CoverageGap(string LanguageCode, DateTime HourStart);

public sealed record Count(string Key, string Label, int Value);

/// <summary>Counts per dimension; <c>AsOf</c>: when the snapshot they come from was taken (null: counted live).</summary>
public sealed record Counts(
    IReadOnlyList<Count> ByStatus, IReadOnlyList<Count> BySeverity, IReadOnlyList<Count> ByLanguage, IReadOnlyList<Count> BySupplier,
    IReadOnlyList<Count> ByProvision, DateTime? AsOf);

public sealed record ResolutionTimes(int Resolved, double? MedianDays, double? P80Days, int WithinFourteenDays, int WithinThirtyDays, DateTime? AsOf);

public sealed record UnconfiguredNumberText(long MessageId, long? ComplaintId, string? CaseNumber, string Channel, DateTime ReceivedAt);

/// <summary>Texts that came to a hotline number the configuration does not name, in the last <see cref="Days"/> days.</summary>
public sealed record UnconfiguredNumberTexts(int Total, int Days, IReadOnlyList<UnconfiguredNumberText> Texts);

public sealed record ReconciliationRun(
    long Id, string Reason, DateTime WindowFrom, DateTime WindowTo, DateTime StartedAt, DateTime? FinishedAt, int MessagesListed,
    int MessagesTakenIn, int RecordingsListed, int RecordingsTakenIn, int RecordingsFlagged, string? Error);

public sealed record UnmatchedRecording(string RecordingSid, string CallSid, bool CallKnown, int? DurationSeconds, DateTime? RecordedAt, DateTime FoundAt);

/// <summary>The last reconciliation runs against Twilio, and the recordings they found that match no voicemail (for an admin to open a case by hand).</summary>
public sealed record ReconciliationReport(IReadOnlyList<ReconciliationRun> Runs, int UnmatchedTotal, IReadOnlyList<UnmatchedRecording> Unmatched);

public sealed record OutsideProgramSupplier(string Supplier, int Complaints, int Escalated);

/// <summary>
/// A staff member who speaks a language (or holds a phone shift for it now), as the queue view shows them.
/// <c>State</c>: <c>available</c> (console open, chose available, free for calls), <c>on_call</c>,
/// <c>wrap_up</c> (until its time runs out), <c>busy</c> or <c>away</c> (console open, their choice),
/// <c>offline</c> (no console open, and not on a call). <c>OnPhoneShift</c>: the language's phone tiers ring them now.
/// </summary>
public sealed record QueueStaff(int StaffId, string DisplayName, string State, bool OnPhoneShift);

/// <summary>
/// One active hotline language now: the calls waiting in its queue and the longest of their waits
/// (seconds; null when none waits), whether anyone covers it now (<see cref="DashboardQueries.QueueAsync"/>),
/// and who speaks it, by state.
/// </summary>
public sealed record QueueLanguage(
    string LanguageCode, string Name, int Waiting, int? LongestWaitSeconds, bool CoveredNow, IReadOnlyList<QueueStaff> Staff);

/// <summary>The live queue view at <c>AsOf</c> (the server's clock), one entry per active language.</summary>
public sealed record QueueNow(DateTime AsOf, IReadOnlyList<QueueLanguage> Languages);

/// <summary>
/// The SQL behind each figure of the coordinators' dashboard. Filters are added to the SQL only when
/// set (parameterised), so each query keeps a plan that fits it. Every row carries the complaint id
/// for the drill-down; nothing here reads a worker's number, name or words.
/// </summary>
public sealed class DashboardQueries(NpgsqlDataSource dataSource, TimeProvider time, IOptions<EscalationOptions> options)
{
    private const int ListLimit = 200;

    /// <summary>The complaint conditions of a filter, for complaints aliased <c>c</c>.</summary>
    private static (string Sql, DynamicParameters Parameters) Where(DashboardFilter filter)
    {
        var sql = new StringBuilder("true");
        var parameters = new DynamicParameters();
        void Add(string condition, string name, object? value)
        {
            if (value is not null)
            {
                sql.Append(" AND ").Append(condition);
                parameters.Add(name, value);
            }
        }
        Add("c.language_code = @fLanguage", "fLanguage", filter.Language);
        Add("c.severity = @fSeverity", "fSeverity", filter.Severity);
        Add("c.status = @fStatus", "fStatus", filter.Status);
        Add("c.supplier_id = @fSupplier", "fSupplier", filter.SupplierId);
        Add("EXISTS (SELECT 1 FROM complaint_provisions fp WHERE fp.complaint_id = c.id AND fp.provision_id = @fProvision)", "fProvision", filter.ProvisionId);
        Add("c.opened_at >= @fFrom", "fFrom", filter.OpenedFrom);
        Add("c.opened_at < @fTo", "fTo", filter.OpenedTo);
        return (sql.ToString(), parameters);
    }

    /// <summary>
    /// Runs a figure's queries with plans made for its own filter values, and without parallel workers.
    /// Npgsql prepares statements that run often, and PostgreSQL then moves a prepared statement to a
    /// generic plan, made for no value in particular: the same count over a one-day range and over two
    /// years would share it. And starting parallel workers costs more than it saves on the small reads
    /// of the dashboard, while taking cores from the webhooks (at a million complaints on two busy cores:
    /// the breached-clocks count 70 ms with workers, 13 ms without; the resolution times of one language
    /// 204 ms and 84 ms).
    /// </summary>
    private async Task<T> WithConnectionAsync<T>(Func<NpgsqlConnection, Task<T>> query)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL max_parallel_workers_per_gather = 0", transaction: transaction);
        var result = await query(connection);
        await transaction.CommitAsync();
        return result;
    }

    private const string ClockColumns = """
        d.id AS deadline_id, d.complaint_id, c.case_number, d.kind, d.due_at, c.language_code, c.severity, c.status,
        s.display_name AS assigned_to, d.breached_at, d.escalated_at
        """;

    /// <summary>Open clocks due within the next <paramref name="within"/> (24 h on the dashboard), soonest first.</summary>
    public Task<ClockList> DueSoonAsync(DashboardFilter filter, TimeSpan within, CancellationToken cancellationToken)
    {
        var (where, parameters) = Where(filter);
        var now = time.GetUtcNow();
        parameters.Add("now", now);
        parameters.Add("until", now + within);
        parameters.Add("limit", ListLimit);
        return ClocksAsync($"""
            FROM deadlines d JOIN complaints c ON c.id = d.complaint_id LEFT JOIN staff s ON s.id = c.assigned_staff_id
            WHERE d.met_at IS NULL AND d.due_at >= @now AND d.due_at < @until AND {where}
            """, "d.due_at", parameters, cancellationToken);
    }

    /// <summary>Open clocks past their due time, most overdue first.</summary>
    public Task<ClockList> BreachedAsync(DashboardFilter filter, CancellationToken cancellationToken)
    {
        var (where, parameters) = Where(filter);
        parameters.Add("now", time.GetUtcNow());
        parameters.Add("limit", ListLimit);
        return ClocksAsync($"""
            FROM deadlines d JOIN complaints c ON c.id = d.complaint_id LEFT JOIN staff s ON s.id = c.assigned_staff_id
            WHERE d.met_at IS NULL AND d.due_at < @now AND {where}
            """, "d.due_at", parameters, cancellationToken);
    }

    private Task<ClockList> ClocksAsync(string from, string orderBy, DynamicParameters parameters, CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection =>
        {
            // Unfiltered, the total needs no join (the partial index on due_at holds only open clocks).
            var count = from.EndsWith("AND true\n", StringComparison.Ordinal) || from.EndsWith("AND true", StringComparison.Ordinal)
                ? from.Replace("JOIN complaints c ON c.id = d.complaint_id LEFT JOIN staff s ON s.id = c.assigned_staff_id", "", StringComparison.Ordinal)
                : from;
            using var results = await connection.QueryMultipleAsync(new CommandDefinition($"""
                SELECT count(*)::int {count};
                SELECT {ClockColumns} {from} ORDER BY {orderBy} LIMIT @limit;
                """, parameters, cancellationToken: cancellationToken));
            var total = await results.ReadSingleAsync<int>();
            return new ClockList(total, [.. await results.ReadAsync<ClockRow>()]);
        });

    /// <summary>Deliveries to buyers (one per contact) by buyer and status (pending, sent, failed, dead, acknowledged, action taken), and
    /// those that could not go to a buyer ('no_buyer': outside the Program or no contact), by status.</summary>
    public Task<List<BuyerEscalationCount>> EscalationsByBuyerAsync(DashboardFilter filter, CancellationToken cancellationToken)
    {
        var (where, parameters) = Where(filter);
        var complaints = where == "true" ? "" : "JOIN complaints c ON c.id = e.complaint_id";
        return WithConnectionAsync(async connection => (await connection.QueryAsync<BuyerEscalationCount>(new CommandDefinition($"""
            SELECT e.buyer_id, coalesce(b.name, 'no buyer (coordinators)') AS buyer, e.status, count(*)::int AS count
            FROM escalations e {complaints} LEFT JOIN buyers b ON b.id = e.buyer_id
            WHERE (e.level = 'buyer' OR (e.level = 'no_buyer' AND e.channel = 'console')) AND {where}
            GROUP BY e.buyer_id, b.name, e.status
            ORDER BY buyer, e.status
            """, parameters, cancellationToken: cancellationToken))).ToList());
    }

    /// <summary>Deliveries (e-mails and webhooks) that failed and wait for a retry, or are dead: the dead-letter list.</summary>
    public Task<List<FailedDelivery>> FailedDeliveriesAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection => (await connection.QueryAsync<FailedDelivery>(new CommandDefinition("""
            SELECT e.id AS escalation_id, e.complaint_id, c.case_number, b.name AS buyer, e.channel, e.status, e.attempts, e.last_error, e.next_attempt_at
            FROM escalations e JOIN complaints c ON c.id = e.complaint_id LEFT JOIN buyers b ON b.id = e.buyer_id
            WHERE e.status IN ('failed', 'dead')
            ORDER BY e.status = 'dead' DESC, e.created_at
            LIMIT @ListLimit
            """, new { ListLimit }, cancellationToken: cancellationToken))).ToList());

    /// <summary>
    /// Texts to a number that is none of the configured hotline numbers (stored and answered like any
    /// other): a number whose webhook points here but is missing from the settings, for an admin to fix.
    /// Never the number itself.
    /// </summary>
    public Task<UnconfiguredNumberTexts> UnconfiguredNumberTextsAsync(int days, CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection =>
        {
            using var results = await connection.QueryMultipleAsync(new CommandDefinition("""
                SELECT count(*)::int FROM messages WHERE to_unconfigured_number AND created_at >= @since;
                SELECT m.id AS message_id, m.complaint_id, c.case_number, m.channel, m.created_at AS received_at
                FROM messages m LEFT JOIN complaints c ON c.id = m.complaint_id
                WHERE m.to_unconfigured_number AND m.created_at >= @since
                ORDER BY m.created_at DESC LIMIT @ListLimit;
                """, new { since = time.GetUtcNow() - TimeSpan.FromDays(days), ListLimit }, cancellationToken: cancellationToken));
            var total = await results.ReadSingleAsync<int>();
            return new UnconfiguredNumberTexts(total, days, [.. await results.ReadAsync<UnconfiguredNumberText>()]);
        });

    /// <summary>The 20 latest reconciliation runs and the recordings flagged for an admin (sids only: the audio is in Twilio's console).</summary>
    public Task<ReconciliationReport> ReconciliationAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection =>
        {
            using var results = await connection.QueryMultipleAsync(new CommandDefinition("""
                SELECT id, reason, window_from, window_to, started_at, finished_at, messages_listed, messages_taken_in,
                       recordings_listed, recordings_taken_in, recordings_flagged, error
                FROM twilio_reconciliations ORDER BY started_at DESC LIMIT 20;
                SELECT count(*)::int FROM unmatched_recordings;
                SELECT recording_sid, call_sid, call_known, duration_seconds, recorded_at, found_at
                FROM unmatched_recordings ORDER BY found_at DESC LIMIT @ListLimit;
                """, new { ListLimit }, cancellationToken: cancellationToken));
            var runs = (await results.ReadAsync<ReconciliationRun>()).ToList();
            var total = await results.ReadSingleAsync<int>();
            return new ReconciliationReport(runs, total, [.. await results.ReadAsync<UnmatchedRecording>()]);
        });

    /// <summary>Open complaints with no activity for <paramref name="afterDays"/> days (default Escalation:StalledAfter).</summary>
    public Task<StalledList> StalledAsync(DashboardFilter filter, int? afterDays, CancellationToken cancellationToken)
    {
        var days = afterDays ?? (int)options.Value.StalledAfter.TotalDays;
        var (where, parameters) = Where(filter);
        var now = time.GetUtcNow();
        parameters.Add("now", now);
        parameters.Add("before", now - TimeSpan.FromDays(days));
        parameters.Add("limit", ListLimit);
        const string open = "c.status NOT IN ('resolved', 'verified', 'not_substantiated', 'rejected', 'referred')";
        return WithConnectionAsync(async connection =>
        {
            using var results = await connection.QueryMultipleAsync(new CommandDefinition($"""
                SELECT count(*)::int FROM complaints c WHERE {open} AND c.last_activity_at < @before AND {where};
                SELECT c.id AS complaint_id, c.case_number, c.status, c.severity, c.language_code, c.last_activity_at,
                       floor(extract(epoch FROM @now - c.last_activity_at) / 86400)::int AS days_quiet
                FROM complaints c WHERE {open} AND c.last_activity_at < @before AND {where}
                ORDER BY c.last_activity_at LIMIT @limit;
                """, parameters, cancellationToken: cancellationToken));
            var total = await results.ReadSingleAsync<int>();
            return new StalledList(total, days, [.. await results.ReadAsync<StalledComplaint>()]);
        });
    }

    /// <summary>The hours ahead in which a hotline language has nobody on call (kept by <see cref="CoverageCheck"/>).</summary>
    public Task<List<CoverageGap>> CoverageGapsAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection => (await connection.QueryAsync<CoverageGap>(new CommandDefinition("""
            SELECT language_code, hour_start FROM coverage_gaps WHERE hour_start >= date_trunc('hour', @now)
            ORDER BY hour_start, language_code
            """, new { now = time.GetUtcNow() }, cancellationToken: cancellationToken))).ToList());

    /// <summary>
    /// The live queue view, one entry per active hotline language, at <c>@at</c> (the TimeProvider's now):
    /// <list type="bullet">
    /// <item>Waiting: inbound calls in the queue (stage <c>connect</c>), not claimed by anyone and not ended:
    /// the calls an Accept or a phone screening could still claim (<see cref="Voice.CallLegs.ClaimAsync"/>).
    /// A call sent on to voicemail has left that stage. A call waits from its queue's first wait request,
    /// which offers it to the consoles (<c>console_offered_at</c>, set for every call, offered to anyone or not);
    /// a call whose first wait request has not come yet has waited no time.</item>
    /// <item>Staff: the active staff members who speak the language, and those its phone tiers ring now
    /// (as <see cref="Voice.CallLegs.OnCallAsync"/> finds them: the shift names the language, whoever
    /// speaks what). Free for calls is <see cref="Voice.CallPresence.FreeForCalls"/>'s rule; one who is
    /// not is on a call or wrapping one up, console open or not (a phone answer needs no console).</item>
    /// <item>Covered now: one of them is signed in (a fresh console connection) and chose available,
    /// or is on a phone shift of the language now with a phone to ring. Someone on a call still covers:
    /// the next caller waits for them or for the next tier, and the queue shows who is free.</item>
    /// </list>
    /// Coordinators and admins count like investigators: a console offer rings anyone available who speaks the language.
    /// </summary>
    public Task<QueueNow> QueueAsync(CancellationToken cancellationToken)
    {
        var at = time.GetUtcNow();
        return WithConnectionAsync(async connection =>
        {
            using var results = await connection.QueryMultipleAsync(new CommandDefinition($"""
                SELECT l.code AS language_code, l.name,
                       count(c.id)::int AS waiting,
                       floor(extract(epoch FROM max(greatest(@at - coalesce(c.console_offered_at, @at), interval '0'))
                                                FILTER (WHERE c.id IS NOT NULL)))::int AS longest_wait_seconds
                FROM languages l
                LEFT JOIN calls c ON c.language_code = l.code AND {WaitingCall("c")}
                WHERE l.active
                GROUP BY l.code, l.name
                ORDER BY l.name;

                WITH people AS (
                    SELECT language_code, staff_id FROM staff_languages
                    UNION
                    SELECT language_code, staff_id FROM oncall_shifts WHERE starts_at <= @at AND ends_at > @at
                ),
                seen AS (
                    SELECT people.language_code, s.id, s.display_name, coalesce(p.status, 'away') AS status, p.activity,
                           EXISTS (SELECT 1 FROM console_connections cc WHERE cc.staff_id = s.id AND cc.last_seen_at > @fresh) AS signed_in,
                           {Voice.CallPresence.FreeForCalls("s")} AS free,
                           s.phone_e164 IS NOT NULL AND EXISTS (
                               SELECT 1 FROM oncall_shifts o WHERE o.staff_id = s.id AND o.language_code = people.language_code
                                 AND o.starts_at <= @at AND o.ends_at > @at) AS on_phone_shift
                    FROM people
                    JOIN languages l ON l.code = people.language_code AND l.active
                    JOIN staff s ON s.id = people.staff_id AND s.active
                    LEFT JOIN staff_presence p ON p.staff_id = s.id
                )
                SELECT language_code, id AS staff_id, display_name,
                       CASE WHEN NOT free THEN CASE WHEN activity = 'on_call' THEN 'on_call' ELSE 'wrap_up' END
                            WHEN NOT signed_in THEN 'offline'
                            ELSE status END AS state,
                       on_phone_shift,
                       (signed_in AND status = 'available') OR on_phone_shift AS covers
                FROM seen
                ORDER BY language_code, display_name, id;
                """, new { at, fresh = at - LiveEvents.ConsoleInstance.ConnectionFreshness }, cancellationToken: cancellationToken));
            var languages = (await results.ReadAsync<(string LanguageCode, string Name, int Waiting, int? LongestWaitSeconds)>()).ToList();
            var staff = (await results.ReadAsync<(string LanguageCode, int StaffId, string DisplayName, string State, bool OnPhoneShift, bool Covers)>())
                .ToLookup(s => s.LanguageCode);
            return new QueueNow(at.UtcDateTime, [.. languages.Select(l => new QueueLanguage(
                l.LanguageCode, l.Name, l.Waiting, l.LongestWaitSeconds, staff[l.LanguageCode].Any(s => s.Covers),
                [.. staff[l.LanguageCode].Select(s => new QueueStaff(s.StaffId, s.DisplayName, s.State, s.OnPhoneShift))]))]);
        });
    }

    /// <summary>
    /// SQL: call <c>{call}</c> waits in its queue now: inbound, in the queue's stage, claimed by nobody,
    /// not ended (the conditions under which a claim can still take it). The partial index
    /// <c>calls_waiting</c> (migration 0023) holds these rows only.
    /// </summary>
    private static string WaitingCall(string call) =>
        $"{call}.direction = 'inbound' AND {call}.stage = 'connect' AND {call}.answered_by IS NULL AND {call}.status_rank < 5";

    /// <summary>
    /// Refreshes the dashboard snapshot: a job runs it every minute, so the dashboard reads pre-counted
    /// rows instead of scanning every complaint per request. It counts again the opening days whose
    /// complaints changed since the last refresh (noted by triggers, migration 0009), sums their months
    /// again, derives the all-time counts from the months, and computes the unfiltered 90-day resolution figures.
    /// </summary>
    public async Task RefreshSnapshotAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One refresh at a time across instances; readers see the old snapshot until commit.
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(7713)", transaction: transaction, cancellationToken: cancellationToken));
        // A change committed after this statement's snapshot stays noted for the next refresh.
        // (As timestamps: unspecified-kind DateTimes, sent back as timestamps and compared as dates.)
        var days = (await connection.QueryAsync<DateTime>(new CommandDefinition(
                "DELETE FROM dashboard_changed_days RETURNING opened_on::timestamp", transaction: transaction, cancellationToken: cancellationToken)))
            .Distinct().ToArray();
        if (days.Length > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition($"""
                DELETE FROM dashboard_daily_counts WHERE opened_on = ANY(@days::date[]);
                WITH opened AS (
                    SELECT day, c.id, {Dimensions}
                    FROM unnest(@days::date[]) day
                    JOIN complaints c ON c.opened_at >= day::timestamp AT TIME ZONE 'UTC' AND c.opened_at < (day + 1)::timestamp AT TIME ZONE 'UTC'
                )
                INSERT INTO dashboard_daily_counts (opened_on, status, severity, language_code, supplier_id, outside_supplier_name, provision_id, n)
                    SELECT c.day, {Dimensions}, NULL, count(*) FROM opened c GROUP BY 1, 2, 3, 4, 5, 6
                    UNION ALL
                    SELECT c.day, {Dimensions}, cp.provision_id, count(*) FROM opened c JOIN complaint_provisions cp ON cp.complaint_id = c.id
                    GROUP BY 1, 2, 3, 4, 5, 6, 7;

                DELETE FROM dashboard_monthly_counts WHERE opened_month IN (SELECT date_trunc('month', day)::date FROM unnest(@days::date[]) day);
                INSERT INTO dashboard_monthly_counts (opened_month, status, severity, language_code, supplier_id, outside_supplier_name, provision_id, n)
                    SELECT m.month, {Dimensions}, c.provision_id, sum(c.n)
                    FROM (SELECT DISTINCT date_trunc('month', day)::date AS month FROM unnest(@days::date[]) day) m
                    JOIN dashboard_daily_counts c ON c.opened_on >= m.month AND c.opened_on < (m.month + interval '1 month')::date
                    GROUP BY 1, 2, 3, 4, 5, 6, 7;

                DELETE FROM dashboard_counts;
                INSERT INTO dashboard_counts (status, severity, language_code, supplier_id, outside_supplier_name, provision_id, n)
                    SELECT {Dimensions}, c.provision_id, sum(c.n) FROM dashboard_monthly_counts c GROUP BY 1, 2, 3, 4, 5, 6;
                """, new { days }, transaction, commandTimeout: 600, cancellationToken: cancellationToken));
        }
        await connection.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO dashboard_snapshot (refreshed_at, resolved, median_days, p80_days, within_14, within_30)
                SELECT @now, r.resolved, r.median_days, r.p80_days, r.within_fourteen_days, r.within_thirty_days
                FROM ({ResolutionSql("true")}) r
            ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at, resolved = excluded.resolved, median_days = excluded.median_days,
                p80_days = excluded.p80_days, within_14 = excluded.within_14, within_30 = excluded.within_30;
            """, new { now, since = now - TimeSpan.FromDays(90) }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>When the snapshot was last refreshed (null: never; the figures are then computed live).</summary>
    public Task<DateTime?> SnapshotAsOfAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync(connection => connection.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            "SELECT refreshed_at FROM dashboard_snapshot", cancellationToken: cancellationToken)));

    /// <summary>
    /// Where counted complaints come from for a filter, as two SQL sources of rows
    /// (status, severity, language_code, supplier_id, outside_supplier_name, [provision_id,] n):
    /// one per combination of a complaint's dimensions, one per complaint and provision.
    /// With a snapshot, the whole UTC days of an opening-date range are read pre-counted and only the
    /// partial days at its edges are counted live (a range within one day: all live); without one, all live.
    /// </summary>
    private sealed record CountSources(string Complaints, string Provisions, DynamicParameters Parameters, bool FromSnapshot);

    /// <summary>The counted dimensions of a complaint, as columns of the complaints and of the snapshot tables (aliased <c>c</c>).</summary>
    private const string Dimensions = "c.status, c.severity, c.language_code, c.supplier_id, c.outside_supplier_name";

    private static CountSources Sources(DashboardFilter filter, bool snapshotReady)
    {
        if (!snapshotReady)
        {
            var (everything, liveParameters) = Where(filter);
            return new CountSources(
                $"SELECT {Dimensions}, count(*) AS n FROM complaints c WHERE {everything} GROUP BY 1, 2, 3, 4, 5",
                $"""
                SELECT {Dimensions}, cp.provision_id, count(*) AS n FROM complaint_provisions cp JOIN complaints c ON c.id = cp.complaint_id
                WHERE {everything} GROUP BY 1, 2, 3, 4, 5, 6
                """,
                liveParameters, FromSnapshot: false);
        }

        var (where, parameters) = Where(filter with { ProvisionId = null, OpenedFrom = null, OpenedTo = null });
        parameters.Add("provision", filter.ProvisionId);
        var onlyProvision = filter.ProvisionId is null ? "" : "AND c.provision_id = @provision";
        var perComplaint = filter.ProvisionId is null ? "c.provision_id IS NULL" : "c.provision_id = @provision";
        if (filter.OpenedFrom is null && filter.OpenedTo is null)
        {
            return new CountSources(
                $"SELECT {Dimensions}, c.n FROM dashboard_counts c WHERE {perComplaint} AND {where}",
                $"SELECT {Dimensions}, c.provision_id, c.n FROM dashboard_counts c WHERE c.provision_id IS NOT NULL {onlyProvision} AND {where}",
                parameters, FromSnapshot: true);
        }

        var split = OpeningPeriods.Of(filter.OpenedFrom, filter.OpenedTo);
        var complaints = new List<string>();
        var provisions = new List<string>();
        void AddPreCounted(string table, string periods)
        {
            complaints.Add($"SELECT {Dimensions}, c.n FROM {table} c WHERE {perComplaint} AND {where} AND ({periods})");
            provisions.Add($"SELECT {Dimensions}, c.provision_id, c.n FROM {table} c WHERE c.provision_id IS NOT NULL {onlyProvision} AND {where} AND ({periods})");
        }
        if (split.Months is var (fromMonth, toMonth))
        {
            parameters.Add("fromMonth", fromMonth);
            parameters.Add("toMonth", toMonth);
            AddPreCounted("dashboard_monthly_counts",
                (fromMonth is null ? "true" : "c.opened_month >= @fromMonth::date") + (toMonth is null ? "" : " AND c.opened_month < @toMonth::date"));
        }
        if (split.Days.Count > 0)
        {
            AddPreCounted("dashboard_daily_counts", string.Join(" OR ", split.Days.Select((days, i) =>
            {
                parameters.Add($"fromDay{i}", days.From);
                parameters.Add($"toDay{i}", days.To);
                return $"(c.opened_on >= @fromDay{i}::date AND c.opened_on < @toDay{i}::date)";
            })));
        }
        if (split.Edges.Count > 0)
        {
            var inEdges = string.Join(" OR ", split.Edges.Select((edge, i) =>
            {
                parameters.Add($"edgeFrom{i}", edge.From);
                parameters.Add($"edgeTo{i}", edge.To);
                return $"(c.opened_at >= @edgeFrom{i} AND c.opened_at < @edgeTo{i})";
            }));
            var withProvision = filter.ProvisionId is null ? ""
                : "AND EXISTS (SELECT 1 FROM complaint_provisions fp WHERE fp.complaint_id = c.id AND fp.provision_id = @provision)";
            complaints.Add($"SELECT {Dimensions}, count(*) AS n FROM complaints c WHERE {where} AND ({inEdges}) {withProvision} GROUP BY 1, 2, 3, 4, 5");
            provisions.Add($"""
                SELECT {Dimensions}, cp.provision_id, count(*) AS n FROM complaint_provisions cp JOIN complaints c ON c.id = cp.complaint_id
                WHERE {where} AND ({inEdges}) {(filter.ProvisionId is null ? "" : "AND cp.provision_id = @provision")} GROUP BY 1, 2, 3, 4, 5, 6
                """);
        }
        if (complaints.Count == 0)
        {
            // An empty range: nothing to count.
            complaints.Add($"SELECT {Dimensions}, 0 AS n FROM complaints c WHERE false");
            provisions.Add($"SELECT {Dimensions}, 0 AS provision_id, 0 AS n FROM complaints c WHERE false");
        }
        return new CountSources(
            string.Join(" UNION ALL ", complaints), string.Join(" UNION ALL ", provisions), parameters, FromSnapshot: split.Months is not null || split.Days.Count > 0);
    }

    /// <summary>
    /// An opening-date range [from, to) split into the whole UTC months inside it, read from the monthly
    /// snapshot (a null bound: open-ended), the whole days outside those months, read from the daily
    /// snapshot, and the partial days at its edges, counted live.
    /// </summary>
    public sealed record OpeningPeriods(
        (DateTime? From, DateTime? To)? Months, IReadOnlyList<(DateTime From, DateTime To)> Days, IReadOnlyList<(DateTimeOffset From, DateTimeOffset To)> Edges)
    {
        public static OpeningPeriods Of(DateTimeOffset? from, DateTimeOffset? to)
        {
            // The first midnight at or after `from`, the last midnight at or before `to`.
            var fromDay = from?.UtcDateTime is { } f ? (f.TimeOfDay == TimeSpan.Zero ? f.Date : f.Date.AddDays(1)) : (DateTime?)null;
            var toDay = to?.UtcDateTime.Date;
            if (fromDay >= toDay)
            {
                return new OpeningPeriods(null, [], from < to ? [(from!.Value, to!.Value)] : []);
            }
            var edges = new List<(DateTimeOffset, DateTimeOffset)>();
            if (from is { } start && start.UtcDateTime < fromDay)
            {
                edges.Add((start, Utc(fromDay.Value)));
            }
            if (to is { } end && end.UtcDateTime > toDay)
            {
                edges.Add((Utc(toDay.Value), end));
            }

            // The first month start at or after fromDay, the last at or before toDay.
            var fromMonth = fromDay is { } d ? (d.Day == 1 ? d : new DateTime(d.Year, d.Month, 1).AddMonths(1)) : (DateTime?)null;
            var toMonth = toDay is { } e ? new DateTime(e.Year, e.Month, 1) : (DateTime?)null;
            if (fromMonth >= toMonth)
            {
                return new OpeningPeriods(null, [(Date(fromDay!.Value), Date(toDay!.Value))], edges);
            }
            var days = new List<(DateTime, DateTime)>();
            if (fromDay < fromMonth)
            {
                days.Add((Date(fromDay!.Value), Date(fromMonth!.Value)));
            }
            if (toMonth < toDay)
            {
                days.Add((Date(toMonth!.Value), Date(toDay!.Value)));
            }
            return new OpeningPeriods((Optional(fromMonth), Optional(toMonth)), days, edges);
        }

        private static DateTimeOffset Utc(DateTime day) => new(DateTime.SpecifyKind(day, DateTimeKind.Utc));

        // Unspecified kind: sent as a timestamp and compared as a date, so no session time zone is involved.
        private static DateTime Date(DateTime day) => DateTime.SpecifyKind(day, DateTimeKind.Unspecified);

        private static DateTime? Optional(DateTime? day) => day is { } d ? Date(d) : null;
    }

    /// <summary>Complaints by status, severity, language and supplier, and by provision: from the snapshot
    /// when there is one (the partial days at the edges of an opening-date range counted live), else counted live.</summary>
    public async Task<Counts> CountsAsync(DashboardFilter filter, CancellationToken cancellationToken)
    {
        var asOf = await SnapshotAsOfAsync(cancellationToken);
        var sources = Sources(filter, asOf is not null);
        return await GroupCountsAsync(
            $"SELECT c.status, c.severity, c.language_code, c.supplier_id, sum(c.n)::int AS n FROM ({sources.Complaints}) c GROUP BY 1, 2, 3, 4",
            $"SELECT c.provision_id, sum(c.n)::int AS n FROM ({sources.Provisions}) c GROUP BY 1",
            sources.Parameters, sources.FromSnapshot ? asOf : null, cancellationToken);
    }

    private Task<Counts> GroupCountsAsync(string combinations, string provisions, DynamicParameters parameters, DateTime? asOf, CancellationToken cancellationToken) =>
        WithConnectionAsync(async connection =>
        {
            // The combinations (a few thousand at most) are grouped per dimension here, with their labels.
            var grouped = (await connection.QueryAsync<(string Dimension, string? Key, string? Label, int Value)>(new CommandDefinition($"""
                WITH g AS ({combinations})
                SELECT 'status', g.status, g.status, sum(g.n)::int FROM g GROUP BY g.status
                UNION ALL SELECT 'severity', g.severity, g.severity, sum(g.n)::int FROM g GROUP BY g.severity
                UNION ALL SELECT 'language', g.language_code, min(l.name), sum(g.n)::int FROM g LEFT JOIN languages l ON l.code = g.language_code GROUP BY g.language_code
                UNION ALL SELECT 'supplier', g.supplier_id::text, min(s.name), sum(g.n)::int FROM g LEFT JOIN suppliers s ON s.id = g.supplier_id GROUP BY g.supplier_id
                ORDER BY 1, 4 DESC
                """, parameters, cancellationToken: cancellationToken))).ToList();
            var byProvision = (await connection.QueryAsync<Count>(new CommandDefinition($"""
                WITH g AS ({provisions})
                SELECT p.id::text AS key, p.number || ' ' || p.title AS label, g.n AS value
                FROM g JOIN provisions p ON p.id = g.provision_id ORDER BY g.n DESC
                """, parameters, cancellationToken: cancellationToken))).ToList();
            List<Count> Of(string dimension) => [.. grouped.Where(g => g.Dimension == dimension)
                .Select(g => new Count(g.Key ?? "none", g.Label ?? (dimension == "supplier" ? "no supplier named" : "none"), g.Value))];
            return new Counts(Of("status"), Of("severity"), Of("language"), Of("supplier"), byProvision, asOf);
        });

    private static string ResolutionSql(string where) => $"""
        WITH r AS (
            SELECT extract(epoch FROM c.closed_at - c.opened_at) / 86400 AS days
            FROM complaints c
            WHERE c.closed_at >= @since AND c.status IN ('resolved', 'verified') AND {where}
        )
        SELECT count(*)::int AS resolved,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY days)::float8 AS median_days,
               percentile_cont(0.8) WITHIN GROUP (ORDER BY days)::float8 AS p80_days,
               (count(*) FILTER (WHERE days <= 14))::int AS within_fourteen_days,
               (count(*) FILTER (WHERE days <= 30))::int AS within_thirty_days
        FROM r
        """;

    /// <summary>Days from opening to resolution of the complaints resolved in the last <paramref name="days"/> days:
    /// median, 80th percentile, and how many within 14 and 30 days (the Fair Food marks). Unfiltered over
    /// 90 days it is the snapshot's; otherwise computed live.</summary>
    public async Task<ResolutionTimes> ResolutionTimesAsync(DashboardFilter filter, int days, CancellationToken cancellationToken)
    {
        if (days == 90 && filter == new DashboardFilter())
        {
            var snapshot = await WithConnectionAsync(connection => connection.QuerySingleOrDefaultAsync<ResolutionTimes>(new CommandDefinition("""
                SELECT resolved, median_days, p80_days, within_14 AS within_fourteen_days, within_30 AS within_thirty_days, refreshed_at AS as_of
                FROM dashboard_snapshot
                """, cancellationToken: cancellationToken)));
            if (snapshot is not null)
            {
                return snapshot;
            }
        }
        var (where, parameters) = Where(filter);
        parameters.Add("since", time.GetUtcNow() - TimeSpan.FromDays(days));
        return await WithConnectionAsync(connection => connection.QuerySingleAsync<ResolutionTimes>(new CommandDefinition(
            $"SELECT *, NULL::timestamptz AS as_of FROM ({ResolutionSql(where)}) r", parameters, cancellationToken: cancellationToken)));
    }

    /// <summary>The expansion report: complaints about employers outside the Program, per employer (from the
    /// snapshot when the filter allows), and how many escalated to coordinators instead of a buyer.</summary>
    public async Task<List<OutsideProgramSupplier>> OutsideProgramAsync(DashboardFilter filter, CancellationToken cancellationToken)
    {
        var asOf = await SnapshotAsOfAsync(cancellationToken);
        var sources = Sources(filter, asOf is not null);
        var parameters = sources.Parameters;
        var counted = $"""
            SELECT coalesce(s.name, c.outside_supplier_name) AS supplier, sum(c.n)::int AS complaints
            FROM ({sources.Complaints}) c LEFT JOIN suppliers s ON s.id = c.supplier_id
            WHERE s.program_status = 'outside_program' OR (c.supplier_id IS NULL AND c.outside_supplier_name IS NOT NULL)
            GROUP BY 1
            """;
        return await WithConnectionAsync(async connection => (await connection.QueryAsync<OutsideProgramSupplier>(new CommandDefinition($"""
            WITH counted AS ({counted}),
            escalated AS (
                SELECT coalesce(s.name, c.outside_supplier_name) AS supplier, count(DISTINCT c.id)::int AS escalated
                FROM escalations e JOIN complaints c ON c.id = e.complaint_id LEFT JOIN suppliers s ON s.id = c.supplier_id
                WHERE e.level = 'no_buyer' AND e.channel = 'console' GROUP BY 1
            )
            SELECT counted.supplier, counted.complaints, coalesce(escalated.escalated, 0) AS escalated
            FROM counted LEFT JOIN escalated ON escalated.supplier = counted.supplier
            ORDER BY counted.complaints DESC
            """, parameters, cancellationToken: cancellationToken))).ToList());
    }

    /// <summary>
    /// CSV of the filtered complaints (one line each, newest first): no worker's number, name or words;
    /// the case reference and id for the drill-down. Streams rows as they are read.
    /// </summary>
    public async Task WriteCsvAsync(DashboardFilter filter, TextWriter writer, CancellationToken cancellationToken)
    {
        var (where, parameters) = Where(filter);
        parameters.Add("now", time.GetUtcNow());
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await writer.WriteLineAsync("complaint_id,case_number,opened_at,status,severity,language,channel,supplier,provisions,days_open,open_breached_clocks,buyer_escalations,closed_at");
        var rows = connection.QueryUnbufferedAsync($"""
            SELECT c.id, c.case_number, c.opened_at, c.status, c.severity, c.language_code, c.channel,
                   coalesce(s.name, c.outside_supplier_name) AS supplier,
                   (SELECT string_agg(p.number, ' ' ORDER BY p.number) FROM complaint_provisions cp JOIN provisions p ON p.id = cp.provision_id
                    WHERE cp.complaint_id = c.id) AS provisions,
                   floor(extract(epoch FROM coalesce(c.closed_at, @now) - c.opened_at) / 86400)::int AS days_open,
                   (SELECT count(*) FROM deadlines d WHERE d.complaint_id = c.id AND d.met_at IS NULL AND d.due_at < @now)::int AS breached,
                   (SELECT count(*) FROM escalations e WHERE e.complaint_id = c.id AND e.level = 'buyer')::int AS escalations,
                   c.closed_at
            FROM complaints c LEFT JOIN suppliers s ON s.id = c.supplier_id
            WHERE {where}
            ORDER BY c.opened_at DESC
            """, parameters).WithCancellation(cancellationToken);
        await foreach (var row in rows)
        {
            var values = new object?[]
            {
                row.id, row.case_number, row.opened_at, row.status, row.severity, row.language_code, row.channel, row.supplier,
                row.provisions, row.days_open, row.breached, row.escalations, row.closed_at,
            };
            await writer.WriteLineAsync(string.Join(',', values.Select(Csv)));
        }
    }

    /// <summary>RFC 4180 quoting; a leading =, +, - or @ is prefixed with ' so a spreadsheet never runs it as a formula.</summary>
    public static string Csv(object? value)
    {
        var text = value switch
        {
            null => "",
            DateTime d => d.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        if (text.Length > 0 && text[0] is '=' or '+' or '-' or '@')
        {
            text = "'" + text;
        }
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }
}
