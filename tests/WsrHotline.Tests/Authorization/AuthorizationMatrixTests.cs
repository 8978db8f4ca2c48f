using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Escalation;
using WsrHotline.Pii;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.LiveConsole;

namespace WsrHotline.Tests.Authorization;

/// <summary>
/// Every endpoint of the app (from its own <see cref="EndpointDataSource"/>) called as every kind of
/// caller, compared with <see cref="AuthorizationMatrix.Expected"/>.
/// </summary>
public sealed partial class AuthorizationMatrixTests(CaseWorkApp app) : IClassFixture<CaseWorkApp>
{
    private sealed record Seeded(long RestrictedCase, long Media, long Escalation, string BuyerToken, int SouthStaffId, long Recording, long Callback, long Call);

    [Fact]
    public async Task Every_endpoint_answers_every_caller_as_the_table_says()
    {
        var seeded = await SeedAsync();
        var endpoints = app.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["ANY"]).Select(method => (Method: method, Pattern: e.RoutePattern.RawText ?? "")))
            .Distinct()
            .OrderBy(e => e.Pattern, StringComparer.Ordinal).ThenBy(e => e.Method, StringComparer.Ordinal)
            .ToList();

        var measured = new Dictionary<string, AuthorizationMatrix.Row>(StringComparer.Ordinal);
        foreach (var (method, pattern) in endpoints)
        {
            var url = Url(pattern, seeded);
            // A hub's negotiate endpoint takes any method but answers only POST.
            var httpMethod = method != "ANY" ? method : pattern.EndsWith("/negotiate", StringComparison.Ordinal) ? "POST" : "GET";
            var anonymous = await CallAsync(null, httpMethod, url, seeded);
            var buyer = await CallAsync(null, httpMethod, url + (url.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "token=" + Uri.EscapeDataString(seeded.BuyerToken), seeded);
            var south = await CallAsync("south@test", httpMethod, url, seeded);
            var north = await CallAsync("north@test", httpMethod, url, seeded);
            var coordinator = await CallAsync("coord@test", httpMethod, url, seeded);
            var admin = await CallAsync("admin@test", httpMethod, url, seeded);
            measured[$"{method} {pattern}"] = new(anonymous, north, south, coordinator, admin, buyer);
        }

        var problems = new List<string>();
        foreach (var (key, row) in measured)
        {
            if (!AuthorizationMatrix.Expected.TryGetValue(key, out var expected))
            {
                problems.Add($"no row for {key}; measured: {Format(key, row)}");
            }
            else if (expected != row)
            {
                problems.Add($"{key} changed:\n      expected {Format(key, expected)}\n      measured {Format(key, row)}");
            }
        }
        problems.AddRange(AuthorizationMatrix.Expected.Keys.Except(measured.Keys, StringComparer.Ordinal).Select(key => $"{key}: a row, but no such endpoint"));
        Assert.True(problems.Count == 0,
            "The authorization matrix (tests/WsrHotline.Tests/Authorization/AuthorizationMatrix.cs) does not match the app:\n  "
            + string.Join("\n  ", problems)
            + "\n\nThe whole table as measured:\n" + string.Join("\n", measured.Select(m => Format(m.Key, m.Value))));
    }

    private static string Format(string key, AuthorizationMatrix.Row row) =>
        $"        [\"{key}\"] = new({Q(row.Anonymous)}, {Q(row.North)}, {Q(row.South)}, {Q(row.Coordinator)}, {Q(row.Admin)}, {Q(row.Buyer)}),";

    private static string Q(string value) => value switch
    {
        AuthorizationMatrix.SignIn => nameof(AuthorizationMatrix.SignIn),
        AuthorizationMatrix.Denied => nameof(AuthorizationMatrix.Denied),
        _ => "\"" + value + "\"",
    };

    /// <summary>The pattern with its parameters replaced by the ids of seeded rows.</summary>
    private static string Url(string pattern, Seeded seeded) => Parameter().Replace(pattern, match =>
    {
        var name = match.Groups["name"].Value;
        return (name, pattern) switch
        {
            ("id", _) when pattern.StartsWith("/console/api/complaints/", StringComparison.Ordinal) => seeded.RestrictedCase.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("id", _) when pattern.StartsWith("/console/api/media/", StringComparison.Ordinal) => seeded.Media.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("id", _) when pattern.StartsWith("/console/api/recordings/", StringComparison.Ordinal) => seeded.Recording.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("id", _) when pattern.StartsWith("/console/api/callbacks/", StringComparison.Ordinal) => seeded.Callback.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("id", _) when pattern.StartsWith("/buyer/escalations/", StringComparison.Ordinal) => seeded.Escalation.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("id", _) when pattern.StartsWith("/admin/staff/", StringComparison.Ordinal) => seeded.SouthStaffId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("callId", _) => seeded.Call.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ("language", _) => "es",
            ("step", _) => "menu",
            ("path", _) when pattern.StartsWith("/hangfire/", StringComparison.Ordinal) => "",
            ("path", _) => "en/welcome.mp3",
            ("file", _) => "index.html",
            ("sid", _) => "CA00000000000000000000000000000000",
            ("number", _) => "+15555550100",
            _ => throw new InvalidOperationException($"No value for the route parameter {{{name}}} of {pattern}: add one in AuthorizationMatrixTests.Url."),
        };
    });

    private async Task<string> CallAsync(string? email, string method, string url, Seeded seeded)
    {
        // Each call finds the seeded rows as seeded (an earlier call may have changed them).
        await using (var connection = await app.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                UPDATE complaints SET restricted_team = 'north' WHERE id = @RestrictedCase;
                UPDATE escalations SET status = 'sent', answered_at = NULL WHERE id = @Escalation;
                -- A call back under way already: "Call back" answers 409 to whoever may call, and never reaches Twilio.
                INSERT INTO callback_attempts (callback_task_id, staff_id, answer_mode) VALUES (@Callback, @SouthStaffId, 'browser')
                ON CONFLICT (callback_task_id) WHERE ended_at IS NULL DO NOTHING;
                UPDATE callback_tasks SET done_at = NULL, done_by = NULL, closed_how = NULL, closed_reason = NULL, closed_note_id = NULL WHERE id = @Callback;
                """, seeded);
        }
        // A fresh client and sign-in per call: a call may sign its caller out.
        using var client = app.Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        string? csrf = null;
        if (email is not null)
        {
            using var signedIn = await StaffSession.PostSignInFormAsync(client, email, StaffSession.DefaultPassword);
            Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect, $"{email} could not sign in: {(int)signedIn.StatusCode}");
            using var me = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync(new Uri("/console/api/me", UriKind.Relative)));
            csrf = me.RootElement.GetProperty("csrfToken").GetString();
        }
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(url, UriKind.Relative));
        if (method is not ("GET" or "HEAD"))
        {
            request.Content = JsonContent.Create(Body(url));
            if (csrf is not null)
            {
                request.Headers.Add("X-CSRF-TOKEN", csrf);
            }
        }
        using var response = await client.SendAsync(request);
        var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (response.Headers.Location is { } location)
        {
            var path = location.IsAbsoluteUri ? location.AbsolutePath : location.OriginalString.Split('?', '#')[0];
            // The cookie's challenge sends to the sign-in page with where to come back.
            var challenge = location.OriginalString.Contains("ReturnUrl=", StringComparison.OrdinalIgnoreCase) ? "?ReturnUrl" : "";
            return status + " " + path + challenge;
        }
        return status;
    }

    /// <summary>A valid body where an empty one is refused before access is checked, so the row shows access.</summary>
    private static object Body(string url) => url switch
    {
        _ when url.EndsWith("/notes", StringComparison.Ordinal) => new { body = "Called the worker back." },
        _ when url.EndsWith("/messages", StringComparison.Ordinal) => new { body = "Hola, le llamamos mañana." },
        _ when url.EndsWith("/close", StringComparison.Ordinal) => new { reason = "reached_by_text" },
        _ when url.EndsWith("/wrap-up", StringComparison.Ordinal) => new { disposition = "information_only" },
        _ when url.EndsWith("/monitor", StringComparison.Ordinal) => new { mode = "listen" },
        _ => new { },
    };

    private async Task<Seeded> SeedAsync()
    {
        var (restricted, _) = await app.OpenCaseAsync();
        var pii = app.Factory.Services.GetRequiredService<PiiProtector>();
        await using var connection = await app.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE complaints SET restricted_team = 'north' WHERE id = @restricted", new { restricted });
        var messageId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO messages (direction, channel, complaint_id, num_media, status) VALUES ('inbound', 'sms', @restricted, 1, 'received') RETURNING id
            """, new { restricted });
        var mediaId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO message_media (message_id, position, url_encrypted, declared_content_type) VALUES (@messageId, 0, @url, 'image/jpeg') RETURNING id
            """, new { messageId, url = pii.Encrypt("https://api.twilio.com/media/ME1", PiiPurpose.MediaUrl) });
        await connection.ExecuteAsync("""
            UPDATE message_media SET status = 'stored', content_type = 'image/jpeg', size_bytes = 4, content_encrypted = @content WHERE id = @mediaId
            """, new { mediaId, content = pii.EncryptBytes(Encoding.ASCII.GetBytes("jpeg"), PiiPurpose.MediaContent(mediaId)) });
        var escalation = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO escalations (complaint_id, level, buyer_id, channel, status, payload)
            SELECT @restricted, 'buyer', id, 'email', 'sent', '{"reference": "R-1", "supplier": "Sunny Farms", "days_open": 3, "ask": "Pay the overtime", "provisions": []}'::jsonb FROM buyers WHERE name = 'FreshMart'
            RETURNING id
            """, new { restricted });
        var token = BuyerSignatures.AnswerToken(pii, escalation, DateTimeOffset.UtcNow.AddDays(7));
        // A voicemail on the case, copied, and the callback it is owed.
        var callId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO calls (call_sid, direction, caller_identity_id, complaint_id, language_code, status, recording_sid)
            SELECT 'CAmatrix', 'inbound', caller_identity_id, id, language_code, 'completed', 'REmatrix' FROM complaints WHERE id = @restricted
            RETURNING id
            """, new { restricted });
        var recording = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO voicemail_recordings (call_id, recording_sid) VALUES (@callId, 'REmatrix') RETURNING id
            """, new { callId });
        await connection.ExecuteAsync("""
            UPDATE voicemail_recordings SET status = 'stored', content_type = 'audio/wav', size_bytes = 4, content_encrypted = @content WHERE id = @recording
            """, new { recording, content = pii.EncryptBytes(Encoding.ASCII.GetBytes("RIFF"), PiiPurpose.RecordingContent(recording)) });
        var callback = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO callback_tasks (call_id, complaint_id, caller_identity_id, language_code, reason, due_at)
            SELECT id, complaint_id, caller_identity_id, language_code, 'voicemail', now() + interval '30 minutes' FROM calls WHERE id = @callId
            RETURNING id
            """, new { callId });
        // A call of the restricted case, answered by nobody, its conference not up.
        var call = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO calls (call_sid, direction, status, status_rank, stage, language_code, complaint_id)
            VALUES ('CAmatrix-live', 'inbound', 'in-progress', 4, 'connect', 'es', @restricted) RETURNING id
            """, new { restricted });
        return new Seeded(restricted, mediaId, escalation, token, app.South.StaffId, recording, callback, call);
    }

    [GeneratedRegex(@"\{\**(?<name>[A-Za-z]+)[^}]*\}")]
    private static partial Regex Parameter();
}
