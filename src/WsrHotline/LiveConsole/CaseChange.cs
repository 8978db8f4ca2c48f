using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Staff;

namespace WsrHotline.LiveConsole;

/// <summary>The case a change works on, read and locked (<c>FOR UPDATE</c>) at the start of its transaction.</summary>
public sealed record LockedCase(long Id, string CaseNumber, string Status, string Severity, string LanguageCode, string? RestrictedTeam,
    int? AssignedStaffId, string Confidentiality, long? CallerIdentityId, string? ShareableSummary, int ShareableSummaryVersion);

/// <summary>
/// One change to one case by a staff member, in one transaction: the case row is locked, the user's
/// access checked (unknown case 404, restricted to another team 403), then the change is made; every
/// <see cref="RecordAsync"/> appends the timeline entry (actor: this staff member) and the
/// <c>complaint.changed</c> console event, and the commit sets <c>last_activity_at</c>. A refusal
/// rolls everything back. What must wait for the commit (enqueueing the jobs of what it recorded) is
/// given to <see cref="AfterCommit"/>.
/// </summary>
public sealed class CaseChange
{
    private readonly List<Action> _afterCommit = [];
    private bool _recorded;

    private CaseChange(NpgsqlConnection connection, NpgsqlTransaction transaction, LockedCase complaint, ClaimsPrincipal user,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        Connection = connection;
        Transaction = transaction;
        Case = complaint;
        User = user;
        StaffId = user.StaffId();
        Now = now;
        CancellationToken = cancellationToken;
    }

    public NpgsqlConnection Connection { get; }

    public NpgsqlTransaction Transaction { get; }

    public LockedCase Case { get; }

    public ClaimsPrincipal User { get; }

    public int StaffId { get; }

    public DateTimeOffset Now { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Runs <paramref name="work"/> on the locked case; null when it was committed, else the refusal.</summary>
    public static async Task<ProblemHttpResult?> RunAsync(NpgsqlDataSource dataSource, ClaimsPrincipal user, long complaintId, TimeProvider time,
        Func<CaseChange, Task<ProblemHttpResult?>> work, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaint = await connection.QuerySingleOrDefaultAsync<LockedCase>(new CommandDefinition("""
            SELECT id, case_number, status, severity, language_code, restricted_team, assigned_staff_id, confidentiality,
                   caller_identity_id, shareable_summary, shareable_summary_version
            FROM complaints WHERE id = @complaintId
            FOR UPDATE
            """, new { complaintId }, transaction, cancellationToken: cancellationToken));
        if (complaint is null)
        {
            return NoSuchCase(complaintId);
        }
        if (!CaseAccess.CanOpen(user, complaint.RestrictedTeam))
        {
            return RestrictedCase();
        }
        var change = new CaseChange(connection, transaction, complaint, user, time.GetUtcNow(), cancellationToken);
        if (await work(change) is { } refusal)
        {
            return refusal;
        }
        if (change._recorded)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE complaints SET last_activity_at = @now WHERE id = @complaintId",
                new { now = change.Now, complaintId }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            foreach (var action in change._afterCommit)
            {
                action();
            }
        }
        return null;
    }

    /// <summary>Runs <paramref name="action"/> once the change has committed; never when it is refused.</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    /// <summary>
    /// The timeline entry (small details: ids, labels, lengths, never words) and the live event
    /// (<paramref name="change"/> and <paramref name="value"/>: labels only), for the case's language
    /// and for any staff member named in <paramref name="alsoTell"/>.
    /// </summary>
    public async Task RecordAsync(string timelineKind, object details, string change, string? value = null, params int?[] alsoTell)
    {
        _recorded = true;
        await Timeline.AppendAsync(Connection, Transaction, Case.Id, TimelineActor.Staff, StaffId, timelineKind, details, CancellationToken);
        var payload = new { complaintId = Case.Id, caseNumber = Case.CaseNumber, change, value };
        await ConsoleEvents.AppendAsync(Connection, Transaction, ConsoleEventKinds.ComplaintChanged, Audience.Language(Case.LanguageCode),
            Case.Id, payload, CancellationToken);
        foreach (var staffId in alsoTell.OfType<int>().Distinct())
        {
            await ConsoleEvents.AppendAsync(Connection, Transaction, ConsoleEventKinds.ComplaintChanged, Audience.StaffMember(staffId),
                Case.Id, payload, CancellationToken);
        }
    }

    /// <summary>Runs one statement in the change's transaction.</summary>
    public Task<int> ExecuteAsync(string sql, object parameters) =>
        Connection.ExecuteAsync(new CommandDefinition(sql, parameters, Transaction, cancellationToken: CancellationToken));

    public Task<T> ScalarAsync<T>(string sql, object parameters) =>
        Connection.ExecuteScalarAsync<T>(new CommandDefinition(sql, parameters, Transaction, cancellationToken: CancellationToken))!;

    public async Task<List<T>> QueryAsync<T>(string sql, object parameters) =>
        [.. await Connection.QueryAsync<T>(new CommandDefinition(sql, parameters, Transaction, cancellationToken: CancellationToken))];

    public static ProblemHttpResult Refuse(int status, string detail) => TypedResults.Problem(detail, statusCode: status);

    public static ProblemHttpResult NoSuchCase(long complaintId) =>
        Refuse(StatusCodes.Status404NotFound, $"There is no case with id {complaintId}.");

    public static ProblemHttpResult RestrictedCase() =>
        Refuse(StatusCodes.Status403Forbidden, "This case is restricted to another team: only that team, coordinators and admins can open it.");
}
