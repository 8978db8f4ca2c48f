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
/// sign-in) and an unlock button for a locked account. Admins only; the unlock form carries the
/// antiforgery token and is checked by the console API's filter.
/// </summary>
public static partial class AdminPage
{
    private sealed record StaffRow(int Id, string DisplayName, string Email, string Role, string? Team, string Languages,
        bool Active, DateTime? LockedUntil, DateTime? LastSignInAt);

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
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var staff = await connection.QueryAsync<StaffRow>(new CommandDefinition("""
            SELECT s.id, s.display_name, s.email, s.role, s.team,
                   coalesce(string_agg(l.language_code, ', ' ORDER BY l.language_code), '') AS languages,
                   s.active, s.locked_until, s.last_sign_in_at
            FROM staff s LEFT JOIN staff_languages l ON l.staff_id = s.id
            GROUP BY s.id ORDER BY s.role, s.display_name
            """, cancellationToken: cancellationToken));
        var tokens = antiforgery.GetAndStoreTokens(http);
        var now = time.GetUtcNow().UtcDateTime;
        var e = HtmlEncoder.Default;
        var rows = new StringBuilder();
        foreach (var s in staff)
        {
            var locked = s.LockedUntil > now;
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
                  <td>{(locked ? "locked until " + Utc(s.LockedUntil) : "—")}{unlock}</td>
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

    private static async Task<IResult> UnlockAsync(int id, HttpContext http, NpgsqlDataSource dataSource, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE staff SET locked_until = NULL, failed_sign_ins = 0 WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        if (updated == 0)
        {
            return Results.Problem($"There is no staff member {id}.", statusCode: StatusCodes.Status404NotFound);
        }
        var logger = loggers.CreateLogger("WsrHotline.Staff.AdminPage");
        var adminId = http.User.StaffId();
        LogUnlocked(logger, adminId, id);
        return Results.Redirect("/admin");
    }

    private static string Utc(DateTime? at) => at?.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "";

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Admin {AdminId} unlocked staff {StaffId}")]
    private static partial void LogUnlocked(ILogger logger, int adminId, int staffId);
}
