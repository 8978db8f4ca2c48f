using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;
using WsrHotline.Staff;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// A staff member signed in to the app under test, the way a browser does it: the sign-in page's
/// antiforgery token, the form post, the cookies kept; then the API's token from
/// <c>/console/api/me</c>, sent as <c>X-CSRF-TOKEN</c> on every change.
/// <code>
/// var staffId = await StaffSession.CreateStaffAsync(dataSource, "ana@test", "investigator", team: "north", languages: ["es"]);
/// using var ana = await StaffSession.SignInAsync(factory, "ana@test");
/// var response = await ana.PostJsonAsync("/console/api/complaints/1/notes", new { body = "…" });
/// </code>
/// </summary>
public sealed partial class StaffSession : IDisposable
{
    public const string DefaultPassword = "test-password-1";

    private StaffSession(HttpClient client, int staffId, string csrfToken)
    {
        Client = client;
        StaffId = staffId;
        CsrfToken = csrfToken;
    }

    /// <summary>Keeps the session's cookies; follows no redirects (a test sees them).</summary>
    public HttpClient Client { get; }

    public int StaffId { get; }

    public string CsrfToken { get; }

    /// <summary>Inserts an active staff member with a hashed password and languages; returns the id.</summary>
    public static async Task<int> CreateStaffAsync(NpgsqlDataSource dataSource, string email, string role, string? team = null,
        string[]? languages = null, string password = DefaultPassword, string? displayName = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<int>("""
            INSERT INTO staff (email, display_name, role, team) VALUES (@email, @name, @role, @team) RETURNING id
            """, new { email, name = displayName ?? email.Split('@')[0], role, team });
        await connection.ExecuteAsync("UPDATE staff SET password_hash = @hash WHERE id = @id",
            new { id, hash = StaffPasswords.Hash(new StaffMember(id, email), password) });
        await connection.ExecuteAsync("""
            INSERT INTO languages (code, name, native_name)
            SELECT code, code, code FROM unnest(@languages) AS code ON CONFLICT DO NOTHING;
            INSERT INTO staff_languages (staff_id, language_code) SELECT @id, unnest(@languages);
            """, new { id, languages = languages ?? ["en"] });
        return id;
    }

    /// <summary>Signs in through <c>/signin</c> and fetches the API's antiforgery token.</summary>
    /// <param name="baseAddress">Where the app listens when it runs on Kestrel (a <c>SimulatedHotline</c>'s BaseUrl).</param>
    public static async Task<StaffSession> SignInAsync(HotlineFactory factory, string email, string password = DefaultPassword,
        Uri? baseAddress = null)
    {
        var options = new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true };
        if (baseAddress is not null)
        {
            options.BaseAddress = baseAddress;
        }
        var client = factory.CreateClient(options);
        var page = await client.GetStringAsync(new Uri("/signin", UriKind.Relative));
        var token = FormToken().Match(page);
        Assert.True(token.Success, "The sign-in page has no antiforgery field.");
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [WebUtility.HtmlDecode(token.Groups["name"].Value)] = WebUtility.HtmlDecode(token.Groups["value"].Value),
            ["email"] = email,
            ["password"] = password,
        });
        using var signedIn = await client.PostAsync(new Uri("/signin", UriKind.Relative), form);
        // On Kestrel the factory's client follows redirects: signed in, it has landed on the console.
        var landed = signedIn.RequestMessage?.RequestUri?.AbsolutePath is "/console" or "/dashboard";
        Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect || landed,
            $"Sign-in of {email} answered {(int)signedIn.StatusCode}: {SignInAlert().Match(await signedIn.Content.ReadAsStringAsync()).Groups["text"].Value}");
        using var me = JsonDocument.Parse(await client.GetStringAsync(new Uri("/console/api/me", UriKind.Relative)));
        return new StaffSession(client, me.RootElement.GetProperty("staffId").GetInt32(), me.RootElement.GetProperty("csrfToken").GetString()!);
    }

    /// <summary>
    /// One sign-in attempt through the form, as a browser makes it (the page's token, then the post),
    /// whatever its answer: 302 signed in, 401 wrong, 429 locked.
    /// </summary>
    public static async Task<HttpResponseMessage> PostSignInFormAsync(HttpClient client, string email, string password, string? returnUrl = null)
    {
        var page = await client.GetStringAsync(new Uri("/signin", UriKind.Relative));
        var token = FormToken().Match(page);
        Assert.True(token.Success, "The sign-in page has no antiforgery field.");
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [WebUtility.HtmlDecode(token.Groups["name"].Value)] = WebUtility.HtmlDecode(token.Groups["value"].Value),
            ["email"] = email,
            ["password"] = password,
            ["returnUrl"] = returnUrl ?? "",
        });
        return await client.PostAsync(new Uri("/signin", UriKind.Relative), form);
    }

    public Task<HttpResponseMessage> GetAsync(string url) => Client.GetAsync(new Uri(url, UriKind.Relative));

    public async Task<T> GetJsonAsync<T>(string url)
    {
        using var response = await GetAsync(url);
        Assert.True(response.IsSuccessStatusCode, $"GET {url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>())!;
    }

    /// <summary>A JSON POST with the antiforgery header (leave it off to see the refusal).</summary>
    public async Task<HttpResponseMessage> PostJsonAsync(string url, object? body = null, bool withCsrfToken = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(url, UriKind.Relative))
        {
            Content = JsonContent.Create(body ?? new { }),
        };
        if (withCsrfToken)
        {
            request.Headers.Add("X-CSRF-TOKEN", CsrfToken);
        }
        return await Client.SendAsync(request);
    }

    /// <summary>The <c>detail</c> sentence of a ProblemDetails answer.</summary>
    public static async Task<string> ProblemDetailAsync(HttpResponseMessage response)
    {
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return problem.RootElement.GetProperty("detail").GetString() ?? "";
    }

    public void Dispose() => Client.Dispose();

    [GeneratedRegex("""role="alert">(?<text>[^<]*)<""")]
    private static partial Regex SignInAlert();

    [GeneratedRegex("""<input type="hidden" name="(?<name>__RequestVerificationToken[^"]*)" value="(?<value>[^"]+)">""")]
    private static partial Regex FormToken();
}
