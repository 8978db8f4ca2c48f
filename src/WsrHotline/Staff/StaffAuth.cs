using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace WsrHotline.Staff;

/// <summary>Options of staff sign-in (section <c>StaffSignIn</c>).</summary>
public sealed class StaffSignInOptions
{
    /// <summary>Failed sign-ins for one e-mail from one source address before that pair is locked (see <see cref="StaffSignIn"/>).</summary>
    public int MaxFailedAttempts { get; set; } = 5;

    /// <summary>Failed sign-ins from one source address, over every e-mail, before the address is locked.</summary>
    public int AddressMaxFailedAttempts { get; set; } = 20;

    /// <summary>
    /// How long a lock lasts, and the window failures are counted in (a count starts afresh this long
    /// after its first failure).
    /// </summary>
    public TimeSpan LockoutDuration { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Failed sign-ins for one e-mail from all addresses together before its answers are slowed (never locked).</summary>
    public int AccountSlowdownAfter { get; set; } = 10;

    /// <summary>The first slowdown; it doubles with each further failure.</summary>
    public TimeSpan AccountSlowdownStep { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest slowdown.</summary>
    public TimeSpan AccountSlowdownMax { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>How long a sign-in lasts without activity (a shift, with margin).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);
}

/// <summary>The authorization policies; every staff endpoint and hub method names one.</summary>
public static class StaffPolicies
{
    /// <summary>Any signed-in staff member: investigators, coordinators, admins.</summary>
    public const string Investigator = "Investigator";

    /// <summary>Coordinators and admins: dashboards, every team's cases.</summary>
    public const string Coordinator = "Coordinator";

    public const string Admin = "Admin";
}

/// <summary>Claim types the hotline adds to a staff member's cookie.</summary>
public static class StaffClaims
{
    public const string TeamClaim = "wsr:team";

    public static int StaffId(this ClaimsPrincipal user) =>
        int.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("Not a staff member."),
            System.Globalization.CultureInfo.InvariantCulture);

    public static string Role(this ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.Role) ?? "";

    public static string? Team(this ClaimsPrincipal user) => user.FindFirstValue(TeamClaim);

    /// <summary>Coordinators and admins see every team's cases and every language.</summary>
    public static bool SeesEverything(this ClaimsPrincipal user) => user.Role() is "coordinator" or "admin";
}

public static class StaffAuthExtensions
{
    public static IServiceCollection AddStaffSignIn(this IServiceCollection services)
    {
        services.AddOptions<StaffSignInOptions>()
            .BindConfiguration("StaffSignIn")
            .Validate(options => options.MaxFailedAttempts is >= 3 and <= 20,
                "StaffSignIn:MaxFailedAttempts must be between 3 and 20.")
            .Validate(options => options.LockoutDuration >= TimeSpan.FromMinutes(1),
                "StaffSignIn:LockoutDuration must be at least 00:01:00.")
            .Validate(options => options.AddressMaxFailedAttempts >= options.MaxFailedAttempts,
                "StaffSignIn:AddressMaxFailedAttempts must be at least StaffSignIn:MaxFailedAttempts.")
            .Validate(options => options.AccountSlowdownAfter >= 1 && options.AccountSlowdownStep >= TimeSpan.Zero
                                 && options.AccountSlowdownMax >= options.AccountSlowdownStep && options.AccountSlowdownMax <= TimeSpan.FromSeconds(30),
                "StaffSignIn:AccountSlowdownAfter must be at least 1 and AccountSlowdownStep <= AccountSlowdownMax <= 00:00:30.")
            .ValidateOnStart();

        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = "wsr.staff";
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Strict;
                options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                options.LoginPath = "/signin";
                options.AccessDeniedPath = "/signin/denied";
                options.SlidingExpiration = true;
                // Programs (fetch, the hub) get a status code, not a redirect to a page.
                options.Events.OnRedirectToLogin = context => AnswerProgramsWith(context, StatusCodes.Status401Unauthorized);
                options.Events.OnRedirectToAccessDenied = context => AnswerProgramsWith(context, StatusCodes.Status403Forbidden);
            });
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<Microsoft.Extensions.Options.IOptions<StaffSignInOptions>>((cookie, signIn) =>
                cookie.ExpireTimeSpan = signIn.Value.SessionLifetime);

        services.AddAuthorizationBuilder()
            .AddPolicy(StaffPolicies.Investigator, policy => policy.RequireRole("investigator", "coordinator", "admin"))
            .AddPolicy(StaffPolicies.Coordinator, policy => policy.RequireRole("coordinator", "admin"))
            .AddPolicy(StaffPolicies.Admin, policy => policy.RequireRole("admin"));
        services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "wsr.antiforgery";
            options.HeaderName = "X-CSRF-TOKEN";
        });
        services.AddSingleton<StaffSignIn>();
        return services;
    }

    private static Task AnswerProgramsWith(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/hubs") || path.StartsWithSegments("/console/api") ||
            path.StartsWithSegments("/dashboard/api") || path.StartsWithSegments("/admin/api"))
        {
            context.Response.StatusCode = status;
            return Task.CompletedTask;
        }
        context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    public static WebApplication UseStaffSignIn(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        return app;
    }
}
