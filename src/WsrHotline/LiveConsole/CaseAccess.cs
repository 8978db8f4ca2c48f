using System.Security.Claims;
using Dapper;
using Npgsql;
using WsrHotline.Staff;

namespace WsrHotline.LiveConsole;

/// <summary>
/// Who may open a case: every investigator, except that a case restricted to a team (for example one
/// about a colleague) opens only for that team's investigators, coordinators and admins.
/// </summary>
public static class CaseAccess
{
    public static bool CanOpen(ClaimsPrincipal user, string? restrictedTeam) =>
        restrictedTeam is null || user.SeesEverything() || string.Equals(user.Team(), restrictedTeam, StringComparison.Ordinal);

    /// <summary>The case's language and whether this user may open it; null when there is no such case.</summary>
    public static async Task<(bool Allowed, string LanguageCode)?> CheckAsync(
        NpgsqlConnection connection, ClaimsPrincipal user, long complaintId, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<(string LanguageCode, string? RestrictedTeam)?>(new CommandDefinition(
            "SELECT language_code, restricted_team FROM complaints WHERE id = @complaintId",
            new { complaintId }, cancellationToken: cancellationToken));
        return row is { } found ? (CanOpen(user, found.RestrictedTeam), found.LanguageCode) : null;
    }

    /// <summary>The SQL condition a list of cases applies for this user (<c>k</c> is the complaints alias).</summary>
    public const string VisibleCondition = "(k.restricted_team IS NULL OR @seesEverything OR k.restricted_team = @team)";
}
