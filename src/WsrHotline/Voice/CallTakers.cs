using Dapper;
using Npgsql;
using WsrHotline.LiveEvents;

namespace WsrHotline.Voice;

/// <summary>
/// Who may take a call now: the one rule behind every way a call reaches a console (the offer of a
/// new call, the warm transfer to a colleague, the transfer to another language's queue), so that
/// none of them can offer it to someone another would not.
/// </summary>
public static class CallTakers
{
    /// <summary>
    /// The staff ids, in order, of those who may take a call in <paramref name="language"/> now: active
    /// staff who speak it, whose chosen status is <c>available</c>, with a console connection refreshed
    /// within <see cref="ConsoleInstance.ConnectionFreshness"/>, neither on a call nor wrapping one up
    /// (<see cref="CallPresence.FreeForCalls"/>), and allowed to open the call's case when it is
    /// restricted to a team (<see cref="LiveConsole.CaseAccess.CanOpen"/>). The team rule is the same
    /// C# the case pages apply, so a call can never reach someone the case itself would refuse.
    /// </summary>
    /// <param name="restrictedTeam">The call's case's <c>restricted_team</c>; null for an unrestricted case or a call without one.</param>
    public static async Task<int[]> MayTakeNowAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string language,
        string? restrictedTeam, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var candidates = await connection.QueryAsync<(int StaffId, string Role, string? Team)>(new CommandDefinition($"""
            SELECT p.staff_id, s.role, s.team FROM staff_presence p
            JOIN staff s ON s.id = p.staff_id AND s.active
            JOIN staff_languages l ON l.staff_id = p.staff_id AND l.language_code = @language
            WHERE p.status = 'available'
              AND EXISTS (SELECT 1 FROM console_connections c WHERE c.staff_id = p.staff_id AND c.last_seen_at > @fresh)
              AND {CallPresence.FreeForCalls("s")}
            ORDER BY p.staff_id
            """, new { language, fresh = now - ConsoleInstance.ConnectionFreshness, at = now }, transaction, cancellationToken: cancellationToken));
        return [.. candidates
            .Where(s => LiveConsole.CaseAccess.CanOpen(Staff.StaffSignIn.Principal(s.StaffId, "", s.Role, s.Team), restrictedTeam))
            .Select(s => s.StaffId)];
    }
}
