using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Microsoft.Playwright;
using WsrHotline.Pii;
using WsrHotline.Spool;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Spool;

/// <summary>
/// Spool files that can never be stored (data PostgreSQL refuses, a file that does not decrypt or
/// parse) are set aside and the files after them are still stored; /health/ready and the
/// coordinators' dashboard show the backlog and what was set aside.
/// </summary>
public sealed class SpoolPoisonTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Worker = "+15555550123";
    private const string Password = "correct horse battery";

    /// <summary>What a webhook that reached the spool leaves there (the way the outage filter keeps it).</summary>
    private static Task KeepAsync(WebhookSpool spool, string path, params (string Name, string Value)[] fields)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = HttpMethods.Post;
        http.Request.Path = path;
        return spool.KeepAsync(http.Request, new FormCollection(fields.ToDictionary(field => field.Name, field => new StringValues(field.Value))));
    }

    [Fact]
    public async Task Files_that_can_never_be_stored_are_set_aside_the_ones_after_them_are_stored_and_health_and_dashboard_show_both()
    {
        // The background round runs once at start (nothing kept yet); the test replays when it has laid out the spool.
        await using var scenario = await VoiceScenario.StartAsync(adjust: s => s["Spool:ReplayInterval"] = "01:00:00");
        var services = scenario.Hotline.Factory.Services;
        var spool = services.GetRequiredService<WebhookSpool>();

        // A call whose CallSid holds a NUL byte: PostgreSQL refuses the text (SQLSTATE 22021), every time.
        await KeepAsync(spool, "/twilio/voice/incoming", ("CallSid", "CA\0poison"), ("From", Worker), ("CallStatus", "ringing"));
        // A file that is not the spool's (does not decrypt), and one that decrypts but is not a webhook.
        var first = Path.GetFileNameWithoutExtension(Assert.Single(spool.Pending()));
        var stamp = first[..20];
        await File.WriteAllTextAsync(Path.Combine(spool.Directory, $"{stamp}-x-garbage.spool"), "not a spool file");
        await File.WriteAllTextAsync(Path.Combine(spool.Directory, $"{stamp}-y-notjson.spool"),
            services.GetRequiredService<PiiProtector>().Encrypt("[1, 2", "voice.spool"));
        // After them: a call, its end, and a text, all kept during an outage.
        await KeepAsync(spool, "/twilio/voice/incoming", ("CallSid", "CAafterpoison1"), ("From", Worker), ("CallStatus", "ringing"));
        await KeepAsync(spool, "/twilio/voice/status", ("CallSid", "CAafterpoison1"), ("From", Worker), ("CallStatus", "completed"), ("CallDuration", "42"));
        await KeepAsync(spool, "/twilio/messaging/incoming", ("MessageSid", "SMafterpoison1"), ("From", Worker), ("To", "+18005550101"),
            ("Body", "Hello, the boss did not pay us."), ("NumMedia", "0"));
        Assert.Equal(6, spool.Pending().Count);

        using var client = scenario.Hotline.CreateClient();
        var (status, spoolCheck) = await ReadyAsync(client);
        Assert.Equal(("Healthy", "Healthy"), (status, spoolCheck.Status));
        Assert.StartsWith("6 webhook(s) waiting in the outage spool", spoolCheck.Description, StringComparison.Ordinal);
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "coord@test.example", "coordinator", Password, "en");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "coord@test.example", Password, presence: null);
        await page.GotoAsync("/dashboard");
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#tile-spool .tile-value")).ToHaveTextAsync("6");
        await Assertions.Expect(page.Locator("#tile-spool")).ToContainTextAsync("webhooks waiting in the outage spool, 0 set aside");

        var stored = await services.GetRequiredService<SpoolReplayer>().ReplayPendingAsync(CancellationToken.None);

        Assert.Equal(3, stored);
        Assert.Empty(spool.Pending());
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            Assert.Equal(("completed", 42), await connection.QuerySingleAsync<(string, int)>(
                "SELECT status, duration_seconds FROM calls WHERE call_sid = 'CAafterpoison1'"));
            Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM calls"));
        }
        await InboxWait.ProcessedAsync(scenario.DataSource, "SMafterpoison1");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM messages WHERE message_sid = 'SMafterpoison1'"));
        }

        // Set aside beside the spool, as they were: encrypted, nothing in clear.
        var setAside = Directory.GetFiles(spool.SetAsideDirectory, "*.spool").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([first + ".spool", $"{stamp}-x-garbage.spool", $"{stamp}-y-notjson.spool"], setAside);
        Assert.DoesNotContain("5555550123", await File.ReadAllTextAsync(Path.Combine(spool.SetAsideDirectory, first + ".spool")), StringComparison.Ordinal);
        Assert.Equal(Path.GetDirectoryName(spool.Directory), Path.GetDirectoryName(spool.SetAsideDirectory));
        // Logged at Error with the file's name (and the error's code), never its contents.
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.Contains($"Error WsrHotline.Spool.SpoolReplayer[3203] Spool file {first}.spool can never be stored (SQLSTATE 22021)", logs, StringComparison.Ordinal);
        Assert.Contains($"[3203] Spool file {stamp}-x-garbage.spool can never be stored", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("5555550123", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("did not pay", logs, StringComparison.Ordinal);

        // Ready, but Degraded, with counts only.
        var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        (status, spoolCheck) = await ReadyAsync(client);
        Assert.Equal(("Degraded", "Degraded"), (status, spoolCheck.Status));
        Assert.StartsWith("0 webhook(s) waiting in the outage spool (oldest 0 s), 3 set aside", spoolCheck.Description, StringComparison.Ordinal);

        await page.ReloadAsync();
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#tile-spool .tile-value")).ToHaveTextAsync("0");
        await Assertions.Expect(page.Locator("#tile-spool")).ToContainTextAsync("webhooks waiting in the outage spool, 3 set aside");
        await Assertions.Expect(page.Locator("#tile-spool")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("alarm"));
        // Its live connection closed, the app stops at once.
        await page.Context.CloseAsync();
    }

    private sealed record Check(string Status, string Description);

    private static async Task<(string Status, Check Spool)> ReadyAsync(HttpClient client)
    {
        using var ready = JsonDocument.Parse(await client.GetStringAsync(new Uri("/health/ready", UriKind.Relative)));
        var check = ready.RootElement.GetProperty("checks").GetProperty("webhook_spool");
        return (ready.RootElement.GetProperty("status").GetString()!,
            new Check(check.GetProperty("status").GetString()!, check.GetProperty("description").GetString()!));
    }
}
