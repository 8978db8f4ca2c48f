using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;

namespace WsrHotline.Staff;

/// <summary>The sign-in page, its form post and sign-out. Every form carries an antiforgery token.</summary>
public static class SignInEndpoints
{
    public static WebApplication MapStaffSignIn(this WebApplication app)
    {
        app.MapGet("/signin", (HttpContext context, IAntiforgery antiforgery, string? returnUrl) =>
            Page(context, antiforgery, returnUrl, message: null));

        app.MapPost("/signin", async (HttpContext context, IAntiforgery antiforgery, StaffSignIn signIn,
            [FromForm] string? email, [FromForm] string? password, [FromForm] string? returnUrl, CancellationToken cancellationToken) =>
        {
            if (string.IsNullOrWhiteSpace(email) || string.IsNullOrEmpty(password))
            {
                return Page(context, antiforgery, returnUrl, "Enter your e-mail and password.", StatusCodes.Status400BadRequest);
            }
            var (outcome, principal) = await signIn.CheckAsync(email, password, context.Connection.RemoteIpAddress, cancellationToken);
            switch (outcome)
            {
                case SignInOutcome.SignedIn:
                    await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal!);
                    return Results.Redirect(LocalOrHome(returnUrl, principal!));
                case SignInOutcome.LockedOut:
                    return Page(context, antiforgery, returnUrl,
                        "Too many failed sign-ins: signing in from here is paused for a while. Try again later or ask an admin.",
                        StatusCodes.Status429TooManyRequests);
                default:
                    return Page(context, antiforgery, returnUrl, "That e-mail and password do not match.", StatusCodes.Status401Unauthorized);
            }
        });

        // The console's and dashboard's sign-out forms carry the token (from /console/api/me): without
        // it, any site could sign a staff member out in the middle of a call.
        app.MapPost("/signout", async (HttpContext context) =>
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/signin");
        }).RequireAuthorization(StaffPolicies.Investigator)
            .AddEndpointFilter(LiveConsole.ConsoleApi.RequireAntiforgeryOnChanges);

        app.MapGet("/signin/denied", () => Results.Content(
            Html("Not allowed", "<main><h1>Not allowed</h1><p>Your role cannot open that page.</p><p><a href=\"/console\">Back to the console</a></p></main>"),
            "text/html; charset=utf-8", statusCode: StatusCodes.Status403Forbidden));
        return app;
    }

    /// <summary>Only a local path is followed after sign-in, so the form cannot send anyone elsewhere.</summary>
    private static string LocalOrHome(string? returnUrl, System.Security.Claims.ClaimsPrincipal user) =>
        IsLocalPath(returnUrl) ? returnUrl! : user.SeesEverything() ? "/dashboard" : "/console";

    /// <summary>
    /// A path of this site: it starts with one <c>/</c> and holds no control character, no backslash
    /// and no <c>//</c>, neither as written nor once percent-decoded (however many times). Browsers
    /// drop tabs and newlines from a URL and read <c>\</c> as <c>/</c>, so <c>/\t/evil.example</c> or
    /// <c>/\evil.example</c> would otherwise leave the site.
    /// </summary>
    public static bool IsLocalPath(string? returnUrl)
    {
        if (returnUrl is not ['/', ..])
        {
            return false;
        }
        var spelling = returnUrl;
        for (var decodings = 0; decodings < 5; decodings++)
        {
            if (spelling.Contains("//", StringComparison.Ordinal) || spelling.Contains('\\', StringComparison.Ordinal)
                || spelling.Any(char.IsControl) || spelling.Any(c => c is '\u2028' or '\u2029' or '\uFEFF'))
            {
                return false;
            }
            var decoded = Uri.UnescapeDataString(spelling);
            if (decoded == spelling)
            {
                return true;
            }
            spelling = decoded;
        }
        // Encoded five times over: no one's genuine return address.
        return false;
    }

    private static IResult Page(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? message, int status = StatusCodes.Status200OK)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var encoder = HtmlEncoder.Default;
        var alert = message is null ? "" : $"<p class=\"error\" role=\"alert\">{encoder.Encode(message)}</p>";
        var body = $"""
            <main>
              <h1>WSR Hotline</h1>
              <p>Staff sign-in</p>
              {alert}
              <form method="post" action="/signin">
                <input type="hidden" name="{encoder.Encode(tokens.FormFieldName)}" value="{encoder.Encode(tokens.RequestToken ?? "")}">
                <input type="hidden" name="returnUrl" value="{encoder.Encode(returnUrl ?? "")}">
                <label for="email">E-mail</label>
                <input id="email" name="email" type="email" autocomplete="username" required autofocus>
                <label for="password">Password</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
              </form>
            </main>
            """;
        return Results.Content(Html("Sign in · WSR Hotline", body), "text/html; charset=utf-8", statusCode: status);
    }

    /// <summary>A plain server-rendered page in the hotline's style (sign-in, admin).</summary>
    internal static string Html(string title, string body, string bodyClass = "signin") => $$"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>{{HtmlEncoder.Default.Encode(title)}}</title>
          <link rel="stylesheet" href="/app/hotline.css">
        </head>
        <body class="{{bodyClass}}">
        {{body}}
        </body>
        </html>
        """;
}
