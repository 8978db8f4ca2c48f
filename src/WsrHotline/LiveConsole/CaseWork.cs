using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using WsrHotline.Deadlines;
using WsrHotline.Escalation;
using WsrHotline.Intake;
using WsrHotline.Pii;
using WsrHotline.Staff;

namespace WsrHotline.LiveConsole;

/// <summary>
/// Case work on the console's case page, under <c>/console/api</c>: private notes, the shareable
/// summary, classification by Code provision, severity, supplier, confidentiality and the worker's
/// disclosure decisions, the lifecycle transitions of <see cref="CaseLifecycle"/>, assignment,
/// revealing the caller's number and restricting a case to a team. Each change is one
/// <see cref="CaseChange"/>: one transaction with its timeline entry and live event.
/// </summary>
public static class CaseWork
{
    public const int MaxNoteLength = 10_000;
    public const int MaxSummaryLength = 4_000;
    public const int MaxNameLength = 200;

    public static readonly string[] Severities = ["standard", "retaliation", "zero_tolerance"];
    public static readonly string[] ConfidentialityLevels = ["confidential", "disclosure_consented", "anonymous"];
    public static readonly string[] Decisions = ["may_share_name_with_supplier", "may_share_details", "refuses_disclosure"];
    public static readonly string[] DecisionWays = ["phone", "text", "in_person"];

    public sealed record StatusChange(string? Status, string? Text);

    public sealed record SeverityChange(string? Severity);

    public sealed record Classification(int[]? ProvisionIds);

    public sealed record SupplierChange(int? SupplierId, string? OutsideSupplierName);

    public sealed record SummaryChange(string? Text);

    public sealed record NoteInput(string? Body);

    public sealed record ConfidentialityChange(string? Level);

    public sealed record DecisionInput(string? Decision, string? How);

    public sealed record AssignmentChange(int? StaffId);

    public sealed record RestrictionChange(string? Team);

    public sealed record NoteItem(long Id, string Kind, string Body, int StaffId, string StaffName, DateTime CreatedAt);

    public sealed record DecisionItem(long Id, string Decision, string How, int RecordedBy, string RecordedByName, DateTime RecordedAt);

    public sealed record TransitionItem(string To, string Requires, bool CoordinatorsOnly);

    public sealed record CaseWorkItem(NoteItem[] Notes, DecisionItem[] Decisions, TransitionItem[] Transitions, int ShareableSummaryVersion);

    public sealed record ProvisionItem(int Id, string Number, string Title, bool ZeroTolerance, string CodeVersion);

    public sealed record BuyerItem(int Id, string Name);

    public sealed record SupplierItem(int Id, string Name, string? Country, string? Sector, string ProgramStatus, BuyerItem[] Buyers);

    public sealed record StaffItem(int Id, string DisplayName, string Role, string? Team);

    public sealed record RevealedNumber(string Phone);

    /// <summary>Adds the case-work endpoints to the console's API group (its authorization and antiforgery filter apply).</summary>
    public static RouteGroupBuilder MapCaseWork(this RouteGroupBuilder api)
    {
        api.MapGet("/complaints/{id:long}/casework", CaseWorkAsync);
        api.MapGet("/provisions", ProvisionsAsync);
        api.MapGet("/suppliers", SuppliersAsync);
        api.MapGet("/staff", StaffAsync);
        api.MapPost("/complaints/{id:long}/status", ChangeStatusAsync);
        api.MapPost("/complaints/{id:long}/severity", ChangeSeverityAsync);
        api.MapPost("/complaints/{id:long}/provisions", ClassifyAsync);
        api.MapPost("/complaints/{id:long}/supplier", ChangeSupplierAsync);
        api.MapPost("/complaints/{id:long}/summary", ChangeSummaryAsync);
        api.MapPost("/complaints/{id:long}/notes", AddNoteAsync);
        api.MapPost("/complaints/{id:long}/confidentiality", ChangeConfidentialityAsync);
        api.MapPost("/complaints/{id:long}/disclosure-decisions", RecordDecisionAsync);
        api.MapPost("/complaints/{id:long}/assignment", AssignAsync);
        api.MapPost("/complaints/{id:long}/reveal-number", RevealNumberAsync);
        api.MapPost("/complaints/{id:long}/restriction", RestrictAsync).RequireAuthorization(StaffPolicies.Coordinator);
        return api;
    }

    private static ProblemHttpResult BadRequest(string detail) => CaseChange.Refuse(StatusCodes.Status400BadRequest, detail);

    private static ProblemHttpResult Conflict(string detail) => CaseChange.Refuse(StatusCodes.Status409Conflict, detail);

    private static ProblemHttpResult Forbidden(string detail) => CaseChange.Refuse(StatusCodes.Status403Forbidden, detail);

    private static string Label(string value) => value.Replace('_', ' ');

    private static async Task<Results<NoContent, ProblemHttpResult>> Done(Task<ProblemHttpResult?> change) =>
        await change is { } refusal ? refusal : TypedResults.NoContent();

    // ---- reading ----

    private static async Task<Results<Ok<CaseWorkItem>, ProblemHttpResult>> CaseWorkAsync(long id, HttpContext http, NpgsqlDataSource dataSource,
        PiiProtector pii, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var complaint = await connection.QuerySingleOrDefaultAsync<(string Status, string? RestrictedTeam, int Version)?>(new CommandDefinition(
            "SELECT status, restricted_team, shareable_summary_version FROM complaints WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        if (complaint is not { } found)
        {
            return CaseChange.NoSuchCase(id);
        }
        if (!CaseAccess.CanOpen(http.User, found.RestrictedTeam))
        {
            return CaseChange.RestrictedCase();
        }
        var notes = (await connection.QueryAsync<(long Id, string Kind, string BodyEncrypted, int StaffId, string StaffName, DateTime CreatedAt)>(
            new CommandDefinition("""
                SELECT n.id, n.kind, n.body_encrypted, n.staff_id, s.display_name, n.created_at
                FROM case_notes n JOIN staff s ON s.id = n.staff_id
                WHERE n.complaint_id = @id ORDER BY n.created_at, n.id
                """, new { id }, cancellationToken: cancellationToken)))
            .Select(n => new NoteItem(n.Id, n.Kind, pii.Decrypt(n.BodyEncrypted, PiiPurpose.CaseNote), n.StaffId, n.StaffName, n.CreatedAt))
            .ToArray();
        var decisions = (await connection.QueryAsync<DecisionItem>(new CommandDefinition("""
            SELECT d.id, d.decision, d.how, d.recorded_by, s.display_name AS recorded_by_name, d.recorded_at
            FROM disclosure_decisions d JOIN staff s ON s.id = d.recorded_by
            WHERE d.complaint_id = @id ORDER BY d.recorded_at, d.id
            """, new { id }, cancellationToken: cancellationToken))).ToArray();
        var transitions = CaseLifecycle.From(found.Status, http.User.SeesEverything())
            .Select(t => new TransitionItem(t.To, t.Requires.ToString(), t.CoordinatorsOnly))
            .ToArray();
        return TypedResults.Ok(new CaseWorkItem(notes, decisions, transitions, found.Version));
    }

    /// <summary>The provisions of the Code version in force today (the latest one already effective).</summary>
    private static async Task<Ok<ProvisionItem[]>> ProvisionsAsync(NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<ProvisionItem>(new CommandDefinition($"""
            SELECT p.id, p.number, p.title, p.zero_tolerance, v.name || ' ' || v.version AS code_version
            FROM provisions p JOIN code_versions v ON v.id = p.code_version_id
            WHERE v.id = ({CurrentCodeVersion})
            ORDER BY string_to_array(p.number, '.')::int[], p.number
            """, new { today = Today(time) }, cancellationToken: cancellationToken));
        return TypedResults.Ok(rows.ToArray());
    }

    private const string CurrentCodeVersion =
        "SELECT id FROM code_versions WHERE effective_from <= @today ORDER BY effective_from DESC, id DESC LIMIT 1";

    private static DateTime Today(TimeProvider time) => time.GetUtcNow().UtcDateTime.Date;

    /// <summary>The supplier registry, each supplier with its Signatory Buyers.</summary>
    private static async Task<Ok<SupplierItem[]>> SuppliersAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var suppliers = await connection.QueryAsync<(int Id, string Name, string? Country, string? Sector, string ProgramStatus)>(new CommandDefinition(
            "SELECT id, name, country, sector, program_status FROM suppliers ORDER BY program_status DESC, name", cancellationToken: cancellationToken));
        var buyers = (await connection.QueryAsync<(int SupplierId, int Id, string Name)>(new CommandDefinition("""
            SELECT sb.supplier_id, b.id, b.name FROM supplier_buyers sb JOIN buyers b ON b.id = sb.buyer_id ORDER BY b.name
            """, cancellationToken: cancellationToken))).ToLookup(b => b.SupplierId, b => new BuyerItem(b.Id, b.Name));
        return TypedResults.Ok(suppliers
            .Select(s => new SupplierItem(s.Id, s.Name, s.Country, s.Sector, s.ProgramStatus, [.. buyers[s.Id]]))
            .ToArray());
    }

    /// <summary>Active staff, for assignment (and their teams, for restriction).</summary>
    private static async Task<Ok<StaffItem[]>> StaffAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<StaffItem>(new CommandDefinition(
            "SELECT id, display_name, role, team FROM staff WHERE active ORDER BY display_name", cancellationToken: cancellationToken));
        return TypedResults.Ok(rows.ToArray());
    }

    // ---- the lifecycle ----

    private static Task<Results<NoContent, ProblemHttpResult>> ChangeStatusAsync(long id, StatusChange input, HttpContext http,
        NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var from = change.Case.Status;
            var to = input.Status ?? "";
            if (CaseLifecycle.Find(from, to) is not { } transition)
            {
                var open = string.Join(", ", CaseLifecycle.From(from, change.User.SeesEverything()).Select(t => Label(t.To)));
                return Conflict($"A case that is {Label(from)} cannot become {Label(to)}."
                    + (open.Length > 0 ? $" From {Label(from)} it can become: {open}." : $" A {Label(from)} case is final."));
            }
            if (transition.CoordinatorsOnly && !change.User.SeesEverything())
            {
                return Forbidden($"Only a coordinator can move a {Label(from)} case back to {Label(to)}.");
            }
            long? noteId = null;
            if (CaseLifecycle.NoteKind(transition.Requires) is { } noteKind)
            {
                var text = input.Text?.Trim();
                if (string.IsNullOrEmpty(text))
                {
                    return BadRequest(CaseLifecycle.MissingText(transition));
                }
                if (text.Length > MaxNoteLength)
                {
                    return BadRequest($"That text is too long: at most {MaxNoteLength:N0} characters.");
                }
                noteId = await AddNoteRowAsync(change, pii, noteKind, text);
            }
            var closes = CaseLifecycle.Closed.Contains(to);
            await change.ExecuteAsync("""
                UPDATE complaints
                SET status = @to, closed_at = CASE WHEN @closes THEN coalesce(closed_at, @now) END
                WHERE id = @id
                """, new { to, closes, now = change.Now, id });
            var reopened = CaseLifecycle.Reopens(transition);
            await change.RecordAsync(reopened ? "complaint.reopened" : "complaint.status_changed",
                new { from, to, note_id = noteId }, "status", to);
            await OnStatusChangedAsync(change, to, reopened, severityChanged: false);
            return null;
        }, cancellationToken));

    /// <summary>
    /// The complaint's clocks follow every status and severity change, in the change's transaction
    /// (<c>Deadlines/ComplaintClocks.cs</c>): a move meets or opens clocks, reopening opens them again,
    /// a new severity recomputes them.
    /// </summary>
    private static async Task OnStatusChangedAsync(CaseChange c, string? newStatus, bool reopened, bool severityChanged)
    {
        if (reopened)
        {
            await ComplaintClocks.OnReopenedAsync(c.Connection, c.Transaction, c.Case.Id, c.Now, c.CancellationToken);
        }
        else if (newStatus is not null)
        {
            await ComplaintClocks.OnStatusChangedAsync(c.Connection, c.Transaction, c.Case.Id, newStatus, c.Now, c.StaffId, c.CancellationToken);
        }
        if (severityChanged)
        {
            await ComplaintClocks.RecomputeAsync(c.Connection, c.Transaction, c.Case.Id, c.Now, c.StaffId, c.CancellationToken);
        }
    }

    /// <summary>
    /// Zero tolerance goes to the buyers at once (recorded once however often this runs; delivered by
    /// the jobs enqueued after the commit).
    /// </summary>
    private static async Task EscalateIfZeroToleranceAsync(CaseChange c, DeadlineSweep sweep, string severity)
    {
        if (severity == "zero_tolerance")
        {
            var toDeliver = await sweep.EscalateZeroToleranceAsync(c.Connection, c.Transaction, c.Case.Id, c.CancellationToken);
            c.AfterCommit(() => sweep.EnqueueDeliveries(toDeliver));
        }
    }

    // ---- classification ----

    private static Task<Results<NoContent, ProblemHttpResult>> ChangeSeverityAsync(long id, SeverityChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, DeadlineSweep sweep, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var severity = input.Severity ?? "";
            if (!Severities.Contains(severity))
            {
                return BadRequest("Severity is one of: standard, retaliation, zero tolerance.");
            }
            if (severity != "zero_tolerance")
            {
                var zeroTolerance = await change.QueryAsync<string>("""
                    SELECT p.number FROM complaint_provisions c JOIN provisions p ON p.id = c.provision_id
                    WHERE c.complaint_id = @id AND p.zero_tolerance ORDER BY p.number
                    """, new { id });
                if (zeroTolerance.Count > 0)
                {
                    return Conflict($"This case is classified under zero-tolerance provision {string.Join(", ", zeroTolerance)}: "
                        + "its severity stays zero tolerance. Remove that provision first if it does not apply.");
                }
            }
            await SetSeverityAsync(change, sweep, severity, because: null);
            return null;
        }, cancellationToken));

    private static async Task SetSeverityAsync(CaseChange change, DeadlineSweep sweep, string severity, string? because)
    {
        if (await SetLabelAsync(change, "severity", change.Case.Severity, severity, because))
        {
            await OnStatusChangedAsync(change, newStatus: null, reopened: false, severityChanged: true);
            await EscalateIfZeroToleranceAsync(change, sweep, severity);
        }
    }

    /// <summary>
    /// Sets one of the complaint's label columns (<paramref name="column"/> is a constant of this
    /// class, never input) and records <c>complaint.{column}_changed</c> from, to and why; false when
    /// it already had that value.
    /// </summary>
    private static async Task<bool> SetLabelAsync(CaseChange change, string column, string current, string value, string? because)
    {
        if (current == value)
        {
            return false;
        }
        await change.ExecuteAsync($"UPDATE complaints SET {column} = @value WHERE id = @id", new { value, id = change.Case.Id });
        await change.RecordAsync($"complaint.{column}_changed", new { from = current, to = value, because }, column, value);
        return true;
    }

    private static Task<Results<NoContent, ProblemHttpResult>> ClassifyAsync(long id, Classification input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, DeadlineSweep sweep, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var wanted = (input.ProvisionIds ?? []).Distinct().ToArray();
            // A provision may be kept from an earlier Code version; a new one comes from the version in force.
            var known = await change.QueryAsync<(int Id, string Number, bool ZeroTolerance, bool Current, bool Attached)>($"""
                SELECT p.id, p.number, p.zero_tolerance, p.code_version_id = ({CurrentCodeVersion}),
                       EXISTS (SELECT 1 FROM complaint_provisions c WHERE c.complaint_id = @id AND c.provision_id = p.id)
                FROM provisions p
                WHERE p.id = ANY(@wanted)
                   OR p.id IN (SELECT provision_id FROM complaint_provisions WHERE complaint_id = @id)
                """, new { id, wanted, today = Today(time) });
            var byId = known.ToDictionary(p => p.Id);
            var outdated = wanted.Where(p => !byId.TryGetValue(p, out var found) || !(found.Current || found.Attached)).ToArray();
            if (outdated.Length > 0)
            {
                return BadRequest($"Provision {outdated[0]} is not in the Code in force: choose from the current provisions.");
            }
            var added = wanted.Where(p => !byId[p].Attached).ToArray();
            var removed = known.Where(p => p.Attached && !wanted.Contains(p.Id)).Select(p => p.Id).ToArray();
            if (added.Length == 0 && removed.Length == 0)
            {
                return null;
            }
            await change.ExecuteAsync("""
                DELETE FROM complaint_provisions WHERE complaint_id = @id AND provision_id = ANY(@removed);
                INSERT INTO complaint_provisions (complaint_id, provision_id) SELECT @id, unnest(@added) ON CONFLICT DO NOTHING;
                """, new { id, removed, added });
            await change.RecordAsync("complaint.classified", new
            {
                added = added.Select(p => byId[p].Number).Order(StringComparer.Ordinal),
                removed = removed.Select(p => byId[p].Number).Order(StringComparer.Ordinal),
            }, "classification");
            if (wanted.Any(p => byId[p].ZeroTolerance))
            {
                await SetSeverityAsync(change, sweep, "zero_tolerance", because: "zero_tolerance_provision");
            }
            return null;
        }, cancellationToken));

    private static Task<Results<NoContent, ProblemHttpResult>> ChangeSupplierAsync(long id, SupplierChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, DeadlineSweep sweep, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var outside = string.IsNullOrWhiteSpace(input.OutsideSupplierName) ? null : input.OutsideSupplierName.Trim();
            if (input.SupplierId is not null && outside is not null)
            {
                return BadRequest("Choose a supplier from the registry or name one outside the Program, not both.");
            }
            if (outside is { Length: > MaxNameLength })
            {
                return BadRequest($"A supplier's name has at most {MaxNameLength} characters.");
            }
            if (input.SupplierId is { } supplierId &&
                await change.ScalarAsync<int>("SELECT count(*) FROM suppliers WHERE id = @supplierId", new { supplierId }) == 0)
            {
                return BadRequest($"There is no supplier {supplierId} in the registry.");
            }
            var updated = await change.ExecuteAsync("""
                UPDATE complaints SET supplier_id = @supplierId, outside_supplier_name = @outside
                WHERE id = @id AND (supplier_id IS DISTINCT FROM @supplierId OR outside_supplier_name IS DISTINCT FROM @outside)
                """, new { id, input.SupplierId, outside });
            if (updated > 0)
            {
                await change.RecordAsync("complaint.supplier_changed",
                    new { supplier_id = input.SupplierId, outside_program_by_name = outside is not null }, "supplier");
                // A zero-tolerance case that now has a supplier (and so buyers) goes to them at once.
                await EscalateIfZeroToleranceAsync(change, sweep, change.Case.Severity);
            }
            return null;
        }, cancellationToken));

    // ---- texts ----

    private static Task<Results<NoContent, ProblemHttpResult>> ChangeSummaryAsync(long id, SummaryChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var text = string.IsNullOrWhiteSpace(input.Text) ? null : input.Text.Trim();
            if (text is { Length: > MaxSummaryLength })
            {
                return BadRequest($"The shareable summary has at most {MaxSummaryLength:N0} characters.");
            }
            if (text == change.Case.ShareableSummary)
            {
                return null;
            }
            var version = change.Case.ShareableSummaryVersion + 1;
            await change.ExecuteAsync(
                "UPDATE complaints SET shareable_summary = @text, shareable_summary_version = @version WHERE id = @id", new { id, text, version });
            await change.RecordAsync("summary.changed", new { version, length = text?.Length ?? 0 }, "summary");
            return null;
        }, cancellationToken));

    private static async Task<Results<Ok<long>, ProblemHttpResult>> AddNoteAsync(long id, NoteInput input, HttpContext http,
        NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = input.Body?.Trim();
        if (string.IsNullOrEmpty(body) || body.Length > MaxNoteLength)
        {
            return BadRequest($"A note needs 1 to {MaxNoteLength:N0} characters.");
        }
        long noteId = 0;
        var refusal = await CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            noteId = await AddNoteRowAsync(change, pii, "note", body);
            await change.RecordAsync("note.added", new { note_id = noteId, length = body.Length }, "note");
            return null;
        }, cancellationToken);
        return refusal is null ? TypedResults.Ok(noteId) : refusal;
    }

    /// <summary>A note on the case of the change, encrypted, in its transaction; returns its id.</summary>
    internal static Task<long> AddNoteRowAsync(CaseChange change, PiiProtector pii, string kind, string body) =>
        change.ScalarAsync<long>("""
            INSERT INTO case_notes (complaint_id, staff_id, kind, body_encrypted, created_at)
            VALUES (@complaintId, @staffId, @kind, @body, @now)
            RETURNING id
            """, new { complaintId = change.Case.Id, staffId = change.StaffId, kind, body = pii.Encrypt(body, PiiPurpose.CaseNote), now = change.Now });

    // ---- confidentiality ----

    private static Task<Results<NoContent, ProblemHttpResult>> ChangeConfidentialityAsync(long id, ConfidentialityChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var level = input.Level ?? "";
            if (!ConfidentialityLevels.Contains(level))
            {
                return BadRequest("Confidentiality is one of: confidential, disclosure consented, anonymous.");
            }
            if (level == "disclosure_consented")
            {
                var latest = await change.ScalarAsync<string?>("""
                    SELECT decision FROM disclosure_decisions WHERE complaint_id = @id ORDER BY recorded_at DESC, id DESC LIMIT 1
                    """, new { id });
                if (latest is null or "refuses_disclosure")
                {
                    return Conflict("Disclosure needs the worker's consent: explain the risk, then record their decision before changing the level.");
                }
            }
            await SetConfidentialityAsync(change, level, because: null);
            return null;
        }, cancellationToken));

    private static Task<bool> SetConfidentialityAsync(CaseChange change, string level, string? because) =>
        SetLabelAsync(change, "confidentiality", change.Case.Confidentiality, level, because);

    private static Task<Results<NoContent, ProblemHttpResult>> RecordDecisionAsync(long id, DecisionInput input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            if (!Decisions.Contains(input.Decision ?? ""))
            {
                return BadRequest("The decision is one of: may share name with supplier, may share details, refuses disclosure.");
            }
            if (!DecisionWays.Contains(input.How ?? ""))
            {
                return BadRequest("Say how the worker gave the decision: phone, text or in person.");
            }
            var decisionId = await change.ScalarAsync<long>("""
                INSERT INTO disclosure_decisions (complaint_id, decision, recorded_by, how, recorded_at)
                VALUES (@id, @Decision, @staffId, @How, @now) RETURNING id
                """, new { id, input.Decision, staffId = change.StaffId, input.How, now = change.Now });
            await change.RecordAsync("disclosure.decision_recorded", new { decision_id = decisionId, decision = input.Decision, how = input.How },
                "disclosure_decision", input.Decision);
            if (input.Decision == "refuses_disclosure" && change.Case.Confidentiality == "disclosure_consented")
            {
                await SetConfidentialityAsync(change, "confidential", because: "worker_refused_disclosure");
            }
            return null;
        }, cancellationToken));

    // ---- who works on it, who sees it ----

    private static Task<Results<NoContent, ProblemHttpResult>> AssignAsync(long id, AssignmentChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var current = change.Case.AssignedStaffId;
            if (input.StaffId == current)
            {
                return null;
            }
            if (!change.User.SeesEverything())
            {
                if (input.StaffId is { } other && other != change.StaffId)
                {
                    return Forbidden("Investigators can take a case themselves; only a coordinator assigns it to someone else.");
                }
                if (input.StaffId is null && current != change.StaffId)
                {
                    return Forbidden("Only the assigned investigator or a coordinator can leave a case unassigned.");
                }
                if (current is not null && current != change.StaffId)
                {
                    var holder = await change.ScalarAsync<string>("SELECT display_name FROM staff WHERE id = @current", new { current });
                    return Conflict($"This case is assigned to {holder}: ask a coordinator to reassign it.");
                }
            }
            if (input.StaffId is { } assignee)
            {
                var staff = await change.Connection.QuerySingleOrDefaultAsync<(string Name, string Role, string? Team, bool Active)?>(new CommandDefinition(
                    "SELECT display_name, role, team, active FROM staff WHERE id = @assignee", new { assignee }, change.Transaction,
                    cancellationToken: change.CancellationToken));
                if (staff is not { Active: true } found)
                {
                    return BadRequest($"There is no active staff member {assignee}.");
                }
                if (change.Case.RestrictedTeam is { } team && found.Role == "investigator" && found.Team != team)
                {
                    return Conflict($"{found.Name} cannot open this case: it is restricted to team {team}.");
                }
            }
            await change.ExecuteAsync("UPDATE complaints SET assigned_staff_id = @assignee WHERE id = @id", new { assignee = input.StaffId, id });
            await change.RecordAsync("complaint.assigned", new { from_staff_id = current, to_staff_id = input.StaffId }, "assignment",
                input.StaffId?.ToString(System.Globalization.CultureInfo.InvariantCulture), input.StaffId, current);
            return null;
        }, cancellationToken));

    /// <summary>
    /// Shows the caller's number to this staff member, recorded on the timeline (who, when) and
    /// committed before the number is returned. Never logged; the answer is not to be cached.
    /// </summary>
    private static async Task<Results<Ok<RevealedNumber>, ProblemHttpResult>> RevealNumberAsync(long id, HttpContext http,
        NpgsqlDataSource dataSource, CallerIdentities identities, TimeProvider time, CancellationToken cancellationToken)
    {
        string? phone = null;
        var refusal = await CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            // Npgsql runs it inside the change's transaction (one connection, one transaction).
            phone = change.Case.CallerIdentityId is { } identityId
                ? await identities.RevealNumberAsync(change.Connection, identityId, change.CancellationToken)
                : null;
            if (phone is null)
            {
                return CaseChange.Refuse(StatusCodes.Status404NotFound, "No phone number is recorded for this case (an anonymous or in-person complaint).");
            }
            await change.RecordAsync("caller.number_revealed", new { }, "number_revealed");
            return null;
        }, cancellationToken);
        if (refusal is not null)
        {
            return refusal;
        }
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new RevealedNumber(phone!));
    }

    private static Task<Results<NoContent, ProblemHttpResult>> RestrictAsync(long id, RestrictionChange input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken) =>
        Done(CaseChange.RunAsync(dataSource, http.User, id, time, async change =>
        {
            var team = string.IsNullOrWhiteSpace(input.Team) ? null : input.Team.Trim();
            if (team == change.Case.RestrictedTeam)
            {
                return null;
            }
            if (team is not null && await change.ScalarAsync<int>("SELECT count(*) FROM staff WHERE team = @team AND active", new { team }) == 0)
            {
                return BadRequest($"No active staff member is in team {team}: a case restricted to it could be opened by coordinators only.");
            }
            await change.ExecuteAsync("UPDATE complaints SET restricted_team = @team WHERE id = @id", new { team, id });
            await change.RecordAsync(team is null ? "complaint.unrestricted" : "complaint.restricted",
                new { from_team = change.Case.RestrictedTeam, team }, "restriction", team);
            return null;
        }, cancellationToken));
}
