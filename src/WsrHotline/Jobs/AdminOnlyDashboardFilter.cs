using Hangfire.Dashboard;

namespace WsrHotline.Jobs;

/// <summary>
/// The Hangfire dashboard's own check: only an admin signed in with the staff cookie (the app's only
/// authentication scheme, its default, so <c>UseAuthentication</c> has read it into the user). The
/// endpoint's Admin policy answers first (redirect to sign-in, or "denied"); this keeps the
/// dashboard closed should the endpoint ever lose its policy, and replaces Hangfire's default
/// filter, which lets every local request in (behind a reverse proxy, every request is local).
/// Hangfire answers a refusal with 401 to anonymous and 403 to a signed-in user.
/// </summary>
public sealed class AdminOnlyDashboardFilter : IDashboardAsyncAuthorizationFilter
{
    public Task<bool> AuthorizeAsync(DashboardContext context)
    {
        var user = context.GetHttpContext().User;
        return Task.FromResult(user.Identity?.IsAuthenticated == true && user.IsInRole("admin"));
    }
}
