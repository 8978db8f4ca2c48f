using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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
        await connection.ExecuteAsync("DELETE FROM staff_languages; DELETE FROM staff_presence; DELETE FROM console_connections; DELETE FROM staff; DELETE FROM sign_in_throttle");
    }

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    private NpgsqlDataSource DataSource => database.DataSource;

    /// <summary>Another app over the class's database that reads each request's source address from its header.</summary>
    private HotlineFactory FromSourceAddresses() => new(new TestHostOptions(database.ConnectionString) { SourceAddresses = true });

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
    public async Task Five_failures_lock_the_email_from_that_address_even_for_the_right_password_until_the_lockout_is_over()
    {
        // Started at the real now (FakeTimeProvider's own start is 2000-01-01), like every other row in the database.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = new HotlineFactory(new TestHostOptions(database.ConnectionString) { SourceAddresses = true, Time = time });
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = app.ClientFrom("198.51.100.7");

        var wrong = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var answer = await StaffSession.PostSignInFormAsync(client, "carlos@test.example", "Tr0ub4dor&3 guess");
            wrong.Add(answer.StatusCode);
        }
        using var rightButLocked = await StaffSession.PostSignInFormAsync(client, "carlos@test.example", Password);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), HttpStatusCode.TooManyRequests], wrong);
        Assert.Equal(HttpStatusCode.TooManyRequests, rightButLocked.StatusCode);
        Assert.Contains("paused", await rightButLocked.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        time.Advance(TimeSpan.FromMinutes(15));
        using var later = await StaffSession.PostSignInFormAsync(client, "carlos@test.example", Password);
        Assert.Equal(HttpStatusCode.Redirect, later.StatusCode);
        Assert.DoesNotContain(Password, app.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("Tr0ub4dor&3 guess", app.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("carlos@test.example", app.Logs.All, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_unknown_email_answers_exactly_like_a_known_one_through_a_lock_sequence()
    {
        await using var app = FromSourceAddresses();
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");

        async Task<List<string>> SequenceAsync(string email, string address)
        {
            using var client = app.ClientFrom(address);
            var answers = new List<string>();
            foreach (var password in new[] { "wrong 1", "wrong 2", "wrong 3", "wrong 4", "wrong 5", "wrong 6", Password })
            {
                using var response = await StaffSession.PostSignInFormAsync(client, email, password);
                answers.Add($"{(int)response.StatusCode} {Alert().Match(await response.Content.ReadAsStringAsync()).Value}");
            }
            return answers;
        }

        var known = await SequenceAsync("carlos@test.example", "198.51.100.11");
        var unknown = await SequenceAsync("nobody@test.example", "198.51.100.12");

        Assert.Equal(known, unknown);
        Assert.Equal(7, known.Count);
        Assert.StartsWith("401 ", known[0], StringComparison.Ordinal);
        Assert.StartsWith("429 ", known[^1], StringComparison.Ordinal);
        // Counted alike in the database too: a pair row locked for each e-mail.
        await using var connection = await DataSource.OpenConnectionAsync();
        Assert.Equal([5, 5], await connection.QueryAsync<int>(
            "SELECT failures FROM sign_in_throttle WHERE scope = 'pair' AND locked_until > now() ORDER BY address"));
    }

    [Fact]
    public async Task A_locked_answer_takes_about_as_long_as_a_password_check()
    {
        await using var app = FromSourceAddresses();
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(DataSource, "lucia@test.example", "investigator", Password, "es");

        async Task<double> TimedAsync(HttpClient client, string email, string password)
        {
            var page = await client.GetStringAsync(new Uri("/signin", UriKind.Relative));
            using var form = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["__RequestVerificationToken"] = FormToken().Match(page).Groups[1].Value, ["email"] = email, ["password"] = password,
            });
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var response = await client.PostAsync(new Uri("/signin", UriKind.Relative), form);
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Assert.NotEqual(HttpStatusCode.Redirect, response.StatusCode);
            return elapsed;
        }

        // Lock lucia's e-mail from one address.
        using var locker = app.ClientFrom("198.51.100.21");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await TimedAsync(locker, "lucia@test.example", "wrong");
        }
        var checks = new List<double>();
        var locked = new List<double>();
        for (var round = 0; round < 7; round++)
        {
            // A password check: carlos's e-mail from a new address each time (never locked, never slowed).
            using var fresh = app.ClientFrom($"198.51.100.{100 + round}");
            checks.Add(await TimedAsync(fresh, "carlos@test.example", "wrong"));
            locked.Add(await TimedAsync(locker, "lucia@test.example", Password));
        }

        var checkMedian = checks.Order().ElementAt(checks.Count / 2);
        var lockedMedian = locked.Order().ElementAt(locked.Count / 2);
        Assert.True(lockedMedian >= 0.5 * checkMedian,
            $"A locked answer took {lockedMedian:F1} ms (median), a password check {checkMedian:F1} ms: the lock shows in the time.");
    }

    [Fact]
    public async Task A_stranger_failing_fifty_times_does_not_stop_the_investigator_signing_in_from_their_own_address()
    {
        await using var app = FromSourceAddresses();
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var stranger = app.ClientFrom("203.0.113.66");

        var answers = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var response = await StaffSession.PostSignInFormAsync(stranger, "carlos@test.example", $"guess {attempt}");
            answers.Add(response.StatusCode);
        }
        using var carlos = app.ClientFrom("198.51.100.30");
        using var signedIn = await StaffSession.PostSignInFormAsync(carlos, "carlos@test.example", Password);
        using var strangerWithThePassword = await StaffSession.PostSignInFormAsync(stranger, "carlos@test.example", Password);

        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await carlos.GetAsync(new Uri("/console/api/me", UriKind.Relative))).StatusCode);
        // Four wrong, the fifth locks the pair, and the pair stays locked whatever the stranger tries.
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 46)], answers);
        Assert.Equal(HttpStatusCode.TooManyRequests, strangerWithThePassword.StatusCode);
    }

    [Fact]
    public async Task Failures_from_many_addresses_slow_the_email_but_never_lock_its_owner_out()
    {
        await using var app = new HotlineFactory(new TestHostOptions(database.ConnectionString)
        {
            SourceAddresses = true,
            Settings = settings =>
            {
                settings["StaffSignIn:AccountSlowdownAfter"] = "10";
                settings["StaffSignIn:AccountSlowdownStep"] = "00:00:00.020";
                settings["StaffSignIn:AccountSlowdownMax"] = "00:00:00.200";
            },
        });
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");

        for (var address = 1; address <= 6; address++)
        {
            using var attacker = app.ClientFrom($"203.0.113.{address}");
            for (var attempt = 0; attempt < 5; attempt++)
            {
                using var _ = await StaffSession.PostSignInFormAsync(attacker, "carlos@test.example", "guess");
            }
        }
        using var carlos = app.ClientFrom("198.51.100.31");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var signedIn = await StaffSession.PostSignInFormAsync(carlos, "carlos@test.example", Password);

        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        // 30 failures in all: slowed by the longest delay, not refused.
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(200), "The sign-in of a much-attacked e-mail was not slowed.");
    }

    [Fact]
    public async Task One_address_failing_over_many_emails_is_locked_and_another_address_is_not()
    {
        await using var app = FromSourceAddresses();
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var sprayer = app.ClientFrom("203.0.113.99");

        for (var email = 0; email < 20; email++)
        {
            using var _ = await StaffSession.PostSignInFormAsync(sprayer, $"someone{email}@test.example", "Winter2026!");
        }
        using var sprayed = await StaffSession.PostSignInFormAsync(sprayer, "carlos@test.example", Password);
        using var carlos = app.ClientFrom("198.51.100.32");
        using var signedIn = await StaffSession.PostSignInFormAsync(carlos, "carlos@test.example", Password);

        Assert.Equal(HttpStatusCode.TooManyRequests, sprayed.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
    }

    [Fact]
    public async Task Sign_out_needs_the_antiforgery_token()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var session = await StaffSession.SignInAsync(_factory, "carlos@test.example", Password);

        using var forged = await session.Client.PostAsync(new Uri("/signout", UriKind.Relative), new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await session.GetAsync("/console/api/me")).StatusCode);

        using var signedOut = await session.Client.PostAsync(new Uri("/signout", UriKind.Relative),
            new FormUrlEncodedContent([new("__RequestVerificationToken", session.CsrfToken)]));
        Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
        Assert.Equal("/signin", signedOut.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, (await session.GetAsync("/console/api/me")).StatusCode);
    }

    [Theory]
    [InlineData("//evil.example/phish")]
    [InlineData("///evil.example")]
    [InlineData("/\\evil.example")]
    [InlineData("\\\\evil.example")]
    [InlineData("/\t/evil.example/phish")]
    [InlineData("/\n/evil.example")]
    [InlineData("/\r\n/evil.example")]
    [InlineData("/\0/evil.example")]
    [InlineData("\t//evil.example")]
    [InlineData(" //evil.example")]
    [InlineData("/%09/evil.example/phish")]
    [InlineData("%2F%09%2Fevil.example%2Fphish")]
    [InlineData("%2F%2Fevil.example")]
    [InlineData("/%2F/evil.example")]
    [InlineData("/%2f%2fevil.example")]
    [InlineData("/%5Cevil.example")]
    [InlineData("/%5c%5cevil.example")]
    [InlineData("/%252F%252Fevil.example")]
    [InlineData("/%25252F/evil.example")]
    [InlineData("/%0D%0A/evil.example")]
    [InlineData("/%00/evil.example")]
    [InlineData("/console\u2028//evil.example")]
    [InlineData("/console/%2F%2Fevil.example")]
    [InlineData("https://evil.example")]
    [InlineData("http:evil.example")]
    [InlineData("evil.example")]
    [InlineData("javascript:alert(1)")]
    public async Task After_sign_in_a_return_address_that_could_leave_the_site_is_replaced_by_the_console(string returnUrl)
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        using var signedIn = await SignInAsync(client, "carlos@test.example", Password, returnUrl: returnUrl);

        // A form value with a NUL may be refused outright (400); anything else signs in to the console.
        if (signedIn.StatusCode != HttpStatusCode.BadRequest || !returnUrl.Contains('\0', StringComparison.Ordinal))
        {
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            Assert.Equal("/console", signedIn.Headers.Location!.OriginalString);
        }
    }

    [Theory]
    [InlineData("/console?case=12345678")]
    [InlineData("/console#case/7")]
    [InlineData("/console/api/me")]
    [InlineData("/admin")]
    [InlineData("/")]
    public async Task After_sign_in_a_local_path_is_followed(string returnUrl)
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        using var signedIn = await SignInAsync(client, "carlos@test.example", Password, returnUrl: returnUrl);

        Assert.Equal(returnUrl, signedIn.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task The_probes_return_address_through_the_sign_in_page_goes_to_the_console()
    {
        await ConsoleBrowser.CreateStaffAsync(DataSource, "carlos@test.example", "investigator", Password, "es");
        using var client = Client();

        // The page carries the query's returnUrl into its form, as a browser would post it.
        var page = await client.GetStringAsync(new Uri("/signin?returnUrl=%2F%09%2Fevil.example%2Fphish", UriKind.Relative));
        var carried = WebUtility.HtmlDecode(ReturnField().Match(page).Groups[1].Value);
        Assert.Equal("/\t/evil.example/phish", carried);
        using var signedIn = await SignInAsync(client, "carlos@test.example", Password, returnUrl: carried);

        Assert.Equal("/console", signedIn.Headers.Location!.OriginalString);
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

    [GeneratedRegex("name=\"returnUrl\" value=\"([^\"]*)\"")]
    private static partial Regex ReturnField();

    [GeneratedRegex("<p class=\"error\" role=\"alert\">[^<]*</p>")]
    private static partial Regex Alert();
}
