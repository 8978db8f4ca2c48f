using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Dapper;
using Microsoft.AspNetCore.Antiforgery;
using Npgsql;
using WsrHotline.LiveConsole;

namespace WsrHotline.Staff;

/// <summary>
/// The admins' page, <c>/admin</c>: every staff member (role, team, languages, lock-out, last
/// sign-in) and an unlock button for an account locked from some address (see <see cref="StaffSignIn"/>:
/// the button clears that e-mail's counters, from every address). Admins only; the unlock form carries the
/// antiforgery token and is checked by the console API's filter.
/// </summary>
public static partial class AdminPage
{
    private sealed record StaffRow(int Id, string DisplayName, string Email, string Role, string? Team, string Languages,
        bool Active, DateTime? LastSignInAt);

    public static WebApplication MapStaffAdmin(this WebApplication app)
    {
        var admin = app.MapGroup("/admin")
            .RequireAuthorization(StaffPolicies.Admin)
            .AddEndpointFilter(ConsoleApi.RequireAntiforgeryOnChanges);
        admin.MapGet("", PageAsync);
        admin.MapPost("/staff/{id:int}/unlock", UnlockAsync);
        return app;
    }

    private static async Task<IResult> PageAsync(HttpContext http, NpgsqlDataSource dataSource, IAntiforgery antiforgery, TimeProvider time,
        StaffSignIn signIn, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var staff = (await connection.QueryAsync<StaffRow>(new CommandDefinition("""
            SELECT s.id, s.display_name, s.email, s.role, s.team,
                   coalesce(string_agg(l.language_code, ', ' ORDER BY l.language_code), '') AS languages,
                   s.active, s.last_sign_in_at
            FROM staff s LEFT JOIN staff_languages l ON l.staff_id = s.id
            GROUP BY s.id ORDER BY s.role, s.display_name
            """, cancellationToken: cancellationToken))).ToList();
        var now = time.GetUtcNow().UtcDateTime;
        var keys = staff.ToDictionary(s => s.Id, s => signIn.AccountKey(s.Email));
        var locks = (await connection.QueryAsync<(string AccountKey, DateTime LockedUntil, int Addresses)>(new CommandDefinition("""
            SELECT account_key, max(locked_until), count(*)::int FROM sign_in_throttle
            WHERE scope = 'pair' AND account_key = ANY(@keys) AND locked_until > @now
            GROUP BY account_key
            """, new { keys = keys.Values.ToArray(), now }, cancellationToken: cancellationToken)))
            .ToDictionary(l => l.AccountKey, StringComparer.Ordinal);
        var tokens = antiforgery.GetAndStoreTokens(http);
        var e = HtmlEncoder.Default;
        var rows = new StringBuilder();
        foreach (var s in staff)
        {
            var locked = locks.TryGetValue(keys[s.Id], out var lockout);
            var unlock = locked
                ? $"""
                  <form method="post" action="/admin/staff/{s.Id}/unlock">
                    <input type="hidden" name="{e.Encode(tokens.FormFieldName)}" value="{e.Encode(tokens.RequestToken ?? "")}">
                    <button type="submit" aria-label="Unlock {e.Encode(s.DisplayName)}">Unlock</button>
                  </form>
                  """
                : "";
            rows.Append(CultureInfo.InvariantCulture, $"""
                <tr data-staff="{s.Id}">
                  <td dir="auto">{e.Encode(s.DisplayName)}<br><small>{e.Encode(s.Email)}</small></td>
                  <td>{e.Encode(s.Role)}{(s.Active ? "" : " (inactive)")}</td>
                  <td>{e.Encode(s.Team ?? "—")}</td>
                  <td>{e.Encode(s.Languages)}</td>
                  <td>{(locked ? $"locked from {lockout.Addresses} address(es) until {Utc(lockout.LockedUntil)}" : "—")}{unlock}</td>
                  <td>{(s.LastSignInAt is null ? "never" : Utc(s.LastSignInAt))}</td>
                </tr>
                """);
        }
        var body = $"""
            <main class="admin">
              <h1>Staff</h1>
              <p><a href="/console">Console</a></p>
              <table>
                <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Team</th><th scope="col">Languages</th><th scope="col">Lock-out</th><th scope="col">Last sign-in</th></tr></thead>
                <tbody>
                {rows}
                </tbody>
              </table>
            </main>
            """;
        return Results.Content(SignInEndpoints.Html("Staff · WSR Hotline", body, "admin-page"), "text/html; charset=utf-8");
    }

    private static async Task<IResult> UnlockAsync(int id, HttpContext http, NpgsqlDataSource dataSource, StaffSignIn signIn, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var email = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT email FROM staff WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        if (email is null)
        {
            return Results.Problem($"There is no staff member {id}.", statusCode: StatusCodes.Status404NotFound);
        }
        // The e-mail's pairs and its count over all addresses; an address locked for spraying stays locked.
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM sign_in_throttle WHERE scope IN ('pair', 'account') AND account_key = @key",
            new { key = signIn.AccountKey(email) }, cancellationToken: cancellationToken));
        var logger = loggers.CreateLogger("WsrHotline.Staff.AdminPage");
        var adminId = http.User.StaffId();
        LogUnlocked(logger, adminId, id);
        return Results.Redirect("/admin");
    }

    private static string Utc(DateTime? at) => at?.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "";

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Admin {AdminId} unlocked staff {StaffId}")]
    private static partial void LogUnlocked(ILogger logger, int adminId, int staffId);
}
