using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;

namespace WsrHotline.Escalation;

/// <summary>
/// The escalation ladder. Each clock that needs looking at (<c>deadlines.next_check_at</c> passed,
/// found by the <c>deadlines_next_check</c> index) is claimed with <c>FOR UPDATE SKIP LOCKED</c> and
/// acted on in one transaction: at the warning point the assigned investigator (or the language's
/// group) is warned, at the due time the coordinators are alerted (console and e-mail), after the
/// buyer grace the Signatory Buyers of the supplier get an escalation per contact. Every step is an
/// <c>escalations</c> row inserted <c>ON CONFLICT DO NOTHING</c> on <c>escalations_once</c>, and its
/// console event and timeline entry are written only for rows actually inserted: two sweeps at once,
/// or a sweep re-run after a crash, record each step once. Sending e-mails and webhooks is a separate
/// step, a Hangfire job per row (<see cref="EscalationDelivery"/>) enqueued once the rows are committed,
/// so a crash between the two leaves a pending row, which the safety net gives a job.
/// </summary>
public sealed partial class DeadlineSweep(
    NpgsqlDataSource dataSource, TimeProvider time, IOptions<EscalationOptions> options, IBackgroundJobClient jobs, ILogger<DeadlineSweep> logger)
{
    private sealed record DueClock(
        long DeadlineId, long ComplaintId, string Kind, DateTime StartsAt, DateTime DueAt, DateTime? WarnedAt, DateTime? BreachedAt,
        DateTime? EscalatedAt, string LanguageCode, int? AssignedStaffId, string CaseNumber, double WarnFraction, bool ToBuyer, TimeSpan BuyerGrace);

    private sealed record Route(long ComplaintId, int? SupplierId, string? SupplierName, string? ProgramStatus, string? OutsideSupplierName,
        string? ShareableSummary, DateTime OpenedAt);

    private sealed record Contact(int SupplierId, int BuyerId, int ContactId, string Kind);

    private sealed record ProvisionRow(long ComplaintId, string Number, string Title, bool ZeroTolerance);

    /// <summary>
    /// One step to record: the row, and what to announce if it is new (<paramref name="AlsoEvent"/>: a
    /// second audience, the assigned investigator of a breached clock).
    /// </summary>
    private sealed record Planned(
        long ComplaintId, long? DeadlineId, string Level, int? BuyerId, int? ContactId, string Channel, string Payload,
        (string Kind, string Audience, object Payload)? Event, object TimelineDetails, (string Kind, string Audience, object Payload)? AlsoEvent = null)
    {
        public string Key => Key(ComplaintId, DeadlineId, Level, BuyerId, ContactId, Channel);
    }

    private static string Key(long complaintId, long? deadlineId, string level, int? buyerId, int? contactId, string channel) =>
        $"{complaintId}/{deadlineId ?? 0}/{level}/{buyerId ?? 0}/{contactId ?? 0}/{channel}";

    /// <summary>Acts on every clock that is due; returns the number of escalation steps recorded.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var recorded = 0;
        while (true)
        {
            var (clocks, steps) = await SweepBatchAsync(cancellationToken);
            recorded += steps;
            if (clocks < options.Value.SweepBatchSize)
            {
                if (recorded > 0)
                {
                    LogSwept(logger, recorded);
                }
                return recorded;
            }
        }
    }

    private async Task<(int Clocks, int Steps)> SweepBatchAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var clocks = (await connection.QueryAsync<DueClock>(new CommandDefinition("""
            SELECT d.id AS deadline_id, d.complaint_id, d.kind, d.starts_at, d.due_at, d.warned_at, d.breached_at, d.escalated_at,
                   c.language_code, c.assigned_staff_id, c.case_number,
                   coalesce(p.warn_fraction, 0.75) AS warn_fraction,
                   coalesce(p.escalate_to_buyer, false) AS to_buyer,
                   coalesce(p.buyer_grace, interval '0') AS buyer_grace
            FROM deadlines d
            JOIN complaints c ON c.id = d.complaint_id
            LEFT JOIN clock_policies p ON p.severity = c.severity AND p.kind = d.kind
            WHERE d.met_at IS NULL AND d.next_check_at <= @now
            ORDER BY d.next_check_at
            LIMIT @batch
            FOR UPDATE OF d SKIP LOCKED
            """, new { now, batch = options.Value.SweepBatchSize }, transaction, cancellationToken: cancellationToken))).ToList();
        if (clocks.Count == 0)
        {
            return (0, 0);
        }

        var planned = new List<Planned>();
        var updates = new List<(long Id, DateTime? Warned, DateTime? Breached, DateTime? Escalated, DateTime? Next)>();
        var toBuyers = new List<DueClock>();
        var nowUtc = now.UtcDateTime;
        foreach (var clock in clocks)
        {
            var warnPoint = clock.StartsAt + ((clock.DueAt - clock.StartsAt) * clock.WarnFraction);
            var buyerPoint = clock.DueAt + clock.BuyerGrace;
            var warned = clock.WarnedAt;
            var breached = clock.BreachedAt;
            var escalated = clock.EscalatedAt;
            if (breached is null && nowUtc >= clock.DueAt)
            {
                breached = nowUtc;
                // Past due already: the coordinators' alert says it all, a late warning would be noise.
                warned ??= nowUtc;
                PlanAlert(planned, clock.ComplaintId, clock.DeadlineId, clock.Kind, clock.DueAt, "clock.breached", clock);
            }
            else if (warned is null && nowUtc >= warnPoint)
            {
                warned = nowUtc;
                PlanWarning(planned, clock);
            }
            if (clock.ToBuyer && breached is not null && escalated is null && nowUtc >= buyerPoint)
            {
                escalated = nowUtc;
                toBuyers.Add(clock);
            }
            DateTime? next = warned is null ? warnPoint
                : breached is null ? clock.DueAt
                : clock.ToBuyer && escalated is null ? buyerPoint
                : null;
            updates.Add((clock.DeadlineId, warned, breached, escalated, next));
        }
        if (toBuyers.Count > 0)
        {
            await PlanBuyersAsync(connection, transaction, planned,
                toBuyers.Select(c => (c.ComplaintId, (long?)c.DeadlineId, (string?)c.Kind, c.DueAt)).ToList(), nowUtc, cancellationToken);
        }

        var (steps, toDeliver) = await RecordAsync(connection, transaction, planned, now, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE deadlines d
            SET warned_at = u.warned, breached_at = u.breached, escalated_at = u.escalated, next_check_at = u.next
            FROM unnest(@ids, @warned, @breached, @escalated, @next) AS u (id, warned, breached, escalated, next)
            WHERE d.id = u.id
            """,
            new
            {
                ids = updates.Select(u => u.Id).ToArray(),
                warned = updates.Select(u => Utc(u.Warned)).ToArray(),
                breached = updates.Select(u => Utc(u.Breached)).ToArray(),
                escalated = updates.Select(u => Utc(u.Escalated)).ToArray(),
                next = updates.Select(u => Utc(u.Next)).ToArray(),
            }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        EnqueueDeliveries(toDeliver);
        return (clocks.Count, steps);
    }

    // timestamptz[] from nullable values: DateTimeOffset always maps to timestamptz.
    private static DateTimeOffset? Utc(DateTime? value) =>
        value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    /// <summary>
    /// A complaint classified zero tolerance (its severity, or a zero-tolerance provision added, or a
    /// supplier linked to such a complaint): the buyers are told at once, not after a clock. Call it in
    /// the transaction of that change; it records each delivery once however often it is called. Returns
    /// the e-mails and webhooks it recorded: once the transaction has committed, give them to
    /// <see cref="EnqueueDeliveries"/>.
    /// </summary>
    public async Task<IReadOnlyCollection<long>> EscalateZeroToleranceAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var planned = new List<Planned>();
        PlanAlert(planned, complaintId, null, null, null, "zero_tolerance");
        await PlanBuyersAsync(connection, transaction, planned, [(complaintId, null, null, now.UtcDateTime)], now.UtcDateTime, cancellationToken);
        return (await RecordAsync(connection, transaction, planned, now, cancellationToken)).ToDeliver;
    }

    /// <summary>
    /// Enqueues the delivery jobs of e-mails and webhooks whose rows have just been committed. It never
    /// fails the caller: when the enqueue fails (the database or Hangfire went away after the commit),
    /// it is logged and the rows wait for the safety net (<see cref="EscalationDelivery.EnqueueForgottenAsync"/>).
    /// </summary>
    public void EnqueueDeliveries(IReadOnlyCollection<long> escalationIds)
    {
        ArgumentNullException.ThrowIfNull(escalationIds);
        try
        {
            foreach (var id in escalationIds)
            {
                EscalationDelivery.Enqueue(jobs, id);
            }
        }
        catch (Exception ex)
        {
            LogEnqueueFailed(logger, escalationIds.Count, ex.GetType().Name);
        }
    }

    private static void PlanWarning(List<Planned> planned, DueClock clock)
    {
        var audience = clock.AssignedStaffId is { } staff ? Audience.StaffMember(staff) : Audience.Language(clock.LanguageCode);
        var details = new { kind = clock.Kind, due_at = clock.DueAt, audience };
        planned.Add(new Planned(clock.ComplaintId, clock.DeadlineId, "investigator_warning", null, null, "console", JsonSerializer.Serialize(details),
            (ConsoleEventKinds.ClockWarning, audience, ClockEventPayload(clock)),
            new { level = "investigator_warning", kind = clock.Kind, due_at = clock.DueAt }));
    }

    /// <summary>What a console shows of a clock's warning or breach: the case by its number, what is due, when.</summary>
    private static object ClockEventPayload(DueClock clock) =>
        new { complaint_id = clock.ComplaintId, case_number = clock.CaseNumber, deadline_id = clock.DeadlineId, kind = clock.Kind, due_at = clock.DueAt };

    private void PlanAlert(List<Planned> planned, long complaintId, long? deadlineId, string? kind, DateTime? dueAt, string reason, DueClock? breached = null)
    {
        var details = new { reason, kind, due_at = dueAt };
        // A breached clock of an assigned case also reaches its investigator's console, live.
        (string, string, object)? toInvestigator = breached?.AssignedStaffId is { } staffId
            ? (ConsoleEventKinds.ClockBreached, Audience.StaffMember(staffId), ClockEventPayload(breached))
            : null;
        planned.Add(new Planned(complaintId, deadlineId, "coordinator_alert", null, null, "console", JsonSerializer.Serialize(details),
            (ConsoleEventKinds.Dashboard, Audience.Coordinators, new { reason, complaint_id = complaintId, deadline_id = deadlineId, kind, due_at = dueAt }),
            new { level = "coordinator_alert", reason, kind, due_at = dueAt }, toInvestigator));
        if (options.Value.CoordinatorEmails.Length > 0)
        {
            planned.Add(new Planned(complaintId, deadlineId, "coordinator_alert", null, null, "email", JsonSerializer.Serialize(details), null,
                new { level = "coordinator_alert", channel = "email", reason, kind }));
        }
    }

    /// <summary>The buyer step for these complaints: one row per active contact of each Signatory Buyer of the
    /// supplier, or, when there is none, the coordinators told instead ('no_buyer', counted for the expansion report).</summary>
    private async Task PlanBuyersAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Planned> planned,
        List<(long ComplaintId, long? DeadlineId, string? Kind, DateTime DueAt)> clocks, DateTime now, CancellationToken cancellationToken)
    {
        var complaintIds = clocks.Select(c => c.ComplaintId).Distinct().ToArray();
        var routes = (await connection.QueryAsync<Route>(new CommandDefinition("""
            SELECT c.id AS complaint_id, c.supplier_id, s.name AS supplier_name, s.program_status, c.outside_supplier_name,
                   c.shareable_summary, c.opened_at
            FROM complaints c LEFT JOIN suppliers s ON s.id = c.supplier_id
            WHERE c.id = ANY(@complaintIds)
            """, new { complaintIds }, transaction, cancellationToken: cancellationToken))).ToDictionary(r => r.ComplaintId);
        var supplierIds = routes.Values.Where(r => r.SupplierId is not null).Select(r => r.SupplierId!.Value).Distinct().ToArray();
        var contacts = (await connection.QueryAsync<Contact>(new CommandDefinition("""
            SELECT sb.supplier_id, bc.buyer_id, bc.id AS contact_id, bc.kind
            FROM supplier_buyers sb JOIN buyer_contacts bc ON bc.buyer_id = sb.buyer_id AND bc.active
            WHERE sb.supplier_id = ANY(@supplierIds)
            ORDER BY bc.id
            """, new { supplierIds }, transaction, cancellationToken: cancellationToken))).ToLookup(c => c.SupplierId);
        var provisions = (await connection.QueryAsync<ProvisionRow>(new CommandDefinition("""
            SELECT cp.complaint_id, p.number, p.title, p.zero_tolerance
            FROM complaint_provisions cp JOIN provisions p ON p.id = cp.provision_id
            WHERE cp.complaint_id = ANY(@complaintIds)
            ORDER BY p.number
            """, new { complaintIds }, transaction, cancellationToken: cancellationToken))).ToLookup(p => p.ComplaintId);

        foreach (var clock in clocks)
        {
            var route = routes[clock.ComplaintId];
            var reason = route.SupplierId is null
                ? route.OutsideSupplierName is null ? "no_supplier" : "outside_program"
                : route.ProgramStatus == "outside_program" ? "outside_program"
                : !contacts[route.SupplierId.Value].Any() ? "no_buyer_contact"
                : null;
            if (reason is not null)
            {
                var noBuyer = new { reason, kind = clock.Kind };
                planned.Add(new Planned(clock.ComplaintId, clock.DeadlineId, "no_buyer", null, null, "console", JsonSerializer.Serialize(noBuyer),
                    (ConsoleEventKinds.Dashboard, Audience.Coordinators, new { reason = "escalation.no_buyer", why = reason, complaint_id = clock.ComplaintId, deadline_id = clock.DeadlineId }),
                    new { level = "no_buyer", why = reason, kind = clock.Kind }));
                if (options.Value.CoordinatorEmails.Length > 0)
                {
                    planned.Add(new Planned(clock.ComplaintId, clock.DeadlineId, "no_buyer", null, null, "email", JsonSerializer.Serialize(noBuyer), null,
                        new { level = "no_buyer", channel = "email", why = reason, kind = clock.Kind }));
                }
                continue;
            }
            var type = clock.DeadlineId is null ? BuyerPayload.ZeroToleranceType : BuyerPayload.ClockBreach;
            var payload = JsonSerializer.Serialize(new BuyerPayload(
                type,
                BuyerPayload.ReferenceFor(clock.ComplaintId),
                route.SupplierName!,
                provisions[clock.ComplaintId].Select(p => new BuyerProvision(p.Number, p.Title, p.ZeroTolerance)).ToList(),
                route.ShareableSummary,
                (int)Math.Floor((now - route.OpenedAt).TotalDays),
                clock.Kind,
                BuyerPayload.AskFor(type, clock.Kind)));
            foreach (var contact in contacts[route.SupplierId!.Value])
            {
                planned.Add(new Planned(clock.ComplaintId, clock.DeadlineId, "buyer", contact.BuyerId, contact.ContactId, contact.Kind, payload, null,
                    new { level = "buyer", type, buyer_id = contact.BuyerId, contact_id = contact.ContactId, channel = contact.Kind, kind = clock.Kind }));
            }
        }
    }

    /// <summary>
    /// Inserts the planned rows (console steps are done by their event: 'sent'; e-mails and webhooks
    /// 'pending' for their delivery jobs); for the rows that were new, the events and timeline entries.
    /// Returns how many rows were new, and the new e-mails and webhooks.
    /// </summary>
    private static async Task<(int Steps, long[] ToDeliver)> RecordAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Planned> planned, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (planned.Count == 0)
        {
            return (0, []);
        }
        var inserted = (await connection.QueryAsync<(long Id, long ComplaintId, long? DeadlineId, string Level, int? BuyerId, int? ContactId, string Channel)>(
            new CommandDefinition("""
            INSERT INTO escalations (complaint_id, deadline_id, level, buyer_id, buyer_contact_id, channel, status, payload,
                                     next_attempt_at, created_at, sent_at)
            SELECT u.complaint_id, u.deadline_id, u.level, u.buyer_id, u.contact_id, u.channel,
                   CASE WHEN u.channel = 'console' THEN 'sent' ELSE 'pending' END, u.payload::jsonb,
                   @now, @now, CASE WHEN u.channel = 'console' THEN @now END
            FROM unnest(@complaintIds, @deadlineIds, @levels, @buyerIds, @contactIds, @channels, @payloads)
                 AS u (complaint_id, deadline_id, level, buyer_id, contact_id, channel, payload)
            ON CONFLICT DO NOTHING
            RETURNING id, complaint_id, deadline_id, level, buyer_id, buyer_contact_id, channel
            """,
            new
            {
                now,
                complaintIds = planned.Select(p => p.ComplaintId).ToArray(),
                deadlineIds = planned.Select(p => p.DeadlineId).ToArray(),
                levels = planned.Select(p => p.Level).ToArray(),
                buyerIds = planned.Select(p => p.BuyerId).ToArray(),
                contactIds = planned.Select(p => p.ContactId).ToArray(),
                channels = planned.Select(p => p.Channel).ToArray(),
                payloads = planned.Select(p => p.Payload).ToArray(),
            }, transaction, cancellationToken: cancellationToken))).ToList();
        if (inserted.Count == 0)
        {
            return (0, []);
        }

        var byKey = planned.ToDictionary(p => p.Key);
        var fresh = inserted.Select(row => (row.Id, Plan: byKey[Key(row.ComplaintId, row.DeadlineId, row.Level, row.BuyerId, row.ContactId, row.Channel)])).ToList();
        // Written set-wise (10,000 breaches must record in seconds: Timeline.AppendManyAsync, and
        // the same rows as ConsoleEvents.AppendAsync writes), in this transaction. One timeline
        // entry per step (clock and level), listing its escalations (one per channel and contact).
        var steps = fresh.GroupBy(f => (f.Plan.ComplaintId, f.Plan.DeadlineId, f.Plan.Level)).Select(step =>
        {
            var details = JsonSerializer.SerializeToNode(step.First().Plan.TimelineDetails)!.AsObject();
            details.Remove("channel");
            details.Remove("contact_id");
            details.Remove("buyer_id");
            details["escalations"] = new JsonArray([.. step.Select(f => (JsonNode)new JsonObject
            {
                ["id"] = f.Id, ["channel"] = f.Plan.Channel, ["buyer_id"] = f.Plan.BuyerId,
            })]);
            return (step.Key.ComplaintId, Details: details.ToJsonString());
        }).ToList();
        await Timeline.AppendManyAsync(connection, transaction, "escalation.recorded", now, steps, cancellationToken);
        var events = fresh
            .SelectMany(f => new[] { f.Plan.Event, f.Plan.AlsoEvent }.Where(e => e is not null).Select(e => (f.Id, f.Plan.ComplaintId, Event: e!.Value)))
            .ToList();
        if (events.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO console_events (kind, audience, complaint_id, payload, created_at)
                SELECT u.kind, u.audience, u.complaint_id, u.payload::jsonb || jsonb_build_object('escalation_id', u.id), @now
                FROM unnest(@kinds, @audiences, @complaintIds, @ids, @payloads) AS u (kind, audience, complaint_id, id, payload)
                """,
                new
                {
                    now,
                    kinds = events.Select(e => e.Event.Kind).ToArray(),
                    audiences = events.Select(e => e.Event.Audience).ToArray(),
                    complaintIds = events.Select(e => e.ComplaintId).ToArray(),
                    ids = events.Select(e => e.Id).ToArray(),
                    payloads = events.Select(e => JsonSerializer.Serialize(e.Event.Payload)).ToArray(),
                }, transaction, cancellationToken: cancellationToken));
        }
        return (inserted.Count, [.. inserted.Where(row => row.Channel != "console").Select(row => row.Id)]);
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Deadline sweep recorded {Steps} escalation step(s)")]
    private static partial void LogSwept(ILogger logger, int steps);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Delivery jobs of {Count} escalation(s) not enqueued ({Error}); the escalation-delivery job enqueues them once they are a minute overdue")]
    private static partial void LogEnqueueFailed(ILogger logger, int count, string error);
}
