using System.Security.Claims;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.PostgreSql;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Jobs;

namespace WsrHotline.Tests.Jobs;

/// <summary>
/// The Hangfire dashboard's own filter, without the endpoint's Admin policy in front of it (the
/// authorization matrix calls /hangfire through both): only a signed-in admin gets in.
/// </summary>
public sealed class DashboardFilterTests
{
    // Not opened: with PrepareSchemaIfNecessary off, the storage touches no database until asked.
    private static readonly PostgreSqlStorage Storage = new(
        new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory("Host=127.0.0.1;Port=1;Database=none", new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false }),
        new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false });

    // The dashboard context asks the request's services for optional ones (antiforgery); none here.
    private static readonly ServiceProvider Services = new ServiceCollection().BuildServiceProvider();

    [Theory]
    [InlineData(null, false)]
    [InlineData("investigator", false)]
    [InlineData("coordinator", false)]
    [InlineData("admin", true)]
    public async Task Only_an_admin_signed_in_with_the_staff_cookie_is_let_in(string? role, bool allowed)
    {
        var http = new DefaultHttpContext { RequestServices = Services };
        if (role is not null)
        {
            http.User = new ClaimsPrincipal(new ClaimsIdentity(
                [new Claim(ClaimTypes.NameIdentifier, "7"), new Claim(ClaimTypes.Role, role)], "Cookies"));
        }
        var context = new AspNetCoreDashboardContext(Storage, new DashboardOptions(), http);

        Assert.Equal(allowed, await new AdminOnlyDashboardFilter().AuthorizeAsync(context));
    }

    [Fact]
    public async Task A_role_claim_without_a_sign_in_is_not_enough()
    {
        // An identity with no authentication type is not authenticated, whatever claims it carries.
        var http = new DefaultHttpContext { RequestServices = Services, User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Role, "admin")])) };
        var context = new AspNetCoreDashboardContext(Storage, new DashboardOptions(), http);

        Assert.False(await new AdminOnlyDashboardFilter().AuthorizeAsync(context));
    }
}
