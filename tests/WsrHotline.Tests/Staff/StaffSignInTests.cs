using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Staff;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Staff;

/// <summary>Staff sign-in through the real form: antiforgery, lock-out, roles, the first admin.</summary>
public sealed partial class StaffSignInTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime, IDisposable
{
    private const string Password = "a long enough password";
    private readonly HotlineFactory _factory = new(database.ConnectionString);

    public void Dispose() => _factory.Dispose();

    public async Task InitializeAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("DELETE FROM staff_languages; DELETE FROM staff_presence; DELETE FROM console_connections; DELETE FROM staff");
    }

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    private NpgsqlDataSource DataSource => _factory.Services.GetRequiredService<NpgsqlDataSource>();

    private HttpClient Client() => _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    private static async Task<string> FormTokenAsync(HttpClient client)
    {
        var page = await client.GetStringAsync(new Uri("/signin", UriKind.Relative));
        return FormToken().Match(page).Groups[1].Value;
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string email, string password, string? returnUrl = null, bool withToken = true)
    {
        var fields = new Dictionary<string, string> { ["email"] = email, ["password"] = password, ["returnUrl"] = returnUrl ?? "" };
        if (withToken)
        {
            fields["__RequestVerificationToken"] = await FormTokenAsync(client);
        }
        using var form = new FormUrlEncodedContent(fields);
        return await client.PostAsync(new Uri("/signin", UriKind.Relative), form);
    }

    [Fact]
    public async Task An_investigator_signs_in_and_lands_on_the_console_but_not_on_the_dashboard()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        var signedIn = await SignInAsync(client, "Carlos@Test.example", Password);

        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/console", signedIn.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/console/api/me", UriKind.Relative))).StatusCode);
        var dashboard = await client.GetAsync(new Uri("/dashboard", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, dashboard.StatusCode);
        Assert.StartsWith("http://localhost/signin/denied", dashboard.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_form_post_without_the_antiforgery_token_is_refused()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        var refused = await SignInAsync(client, "carlos@test.example", Password, withToken: false);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(new Uri("/console/api/me", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task An_api_change_without_the_csrf_header_is_refused_even_when_signed_in()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();
        await SignInAsync(client, "carlos@test.example", Password);

        using var body = new StringContent("""{"body":"hola"}""", System.Text.Encoding.UTF8, "application/json");
        var refused = await client.PostAsync(new Uri("/console/api/complaints/1/messages", UriKind.Relative), body);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("security token", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Five_wrong_passwords_lock_the_account_even_for_the_right_one_and_an_unknown_email_reads_the_same()
    {
        var id = await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        var unknown = await SignInAsync(client, "nobody@test.example", "whatever");
        var wrong = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            wrong.Add((await SignInAsync(client, "carlos@test.example", "Tr0ub4dor&3 guess")).StatusCode);
        }
        var rightButLocked = await SignInAsync(client, "carlos@test.example", Password);

        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), HttpStatusCode.TooManyRequests], wrong);
        Assert.Equal(HttpStatusCode.TooManyRequests, rightButLocked.StatusCode);
        Assert.Contains("locked", await rightButLocked.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Fifteen minutes later (moved in the database): the right password works and the count starts again.
        await using (var connection = await DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE staff SET locked_until = now() - interval '1 second' WHERE id = @id", new { id });
        }
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(client, "carlos@test.example", Password)).StatusCode);
        await using var check = await DataSource.OpenConnectionAsync();
        Assert.Equal(0, await check.ExecuteScalarAsync<int>("SELECT failed_sign_ins FROM staff WHERE id = @id", new { id }));
        Assert.DoesNotContain(Password, _factory.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("Tr0ub4dor&3 guess", _factory.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_sign_in_only_a_local_return_address_is_followed()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        var elsewhere = await SignInAsync(client, "carlos@test.example", Password, returnUrl: "//evil.example/console");
        var local = await SignInAsync(client, "carlos@test.example", Password, returnUrl: "/console#case/7");

        Assert.Equal("/console", elsewhere.Headers.Location!.OriginalString);
        Assert.Equal("/console#case/7", local.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task The_create_admin_command_makes_an_admin_who_can_sign_in_and_refuses_a_short_password()
    {
        var output = new StringWriter();
        var refused = await CreateAdminCommand.RunAsync(DataSource, "root@test.example", "Root", new StringReader("short\n"), output);
        var created = await CreateAdminCommand.RunAsync(DataSource, "root@test.example", "Root", new StringReader(Password + "\n"), output);

        Assert.Equal(2, refused);
        Assert.Equal(0, created);
        using var client = Client();
        var signedIn = await SignInAsync(client, "root@test.example", Password);
        Assert.Equal("/dashboard", signedIn.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/console/api/me", UriKind.Relative))).StatusCode);
        Assert.DoesNotContain(Password, output.ToString(), StringComparison.Ordinal);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex FormToken();
}
