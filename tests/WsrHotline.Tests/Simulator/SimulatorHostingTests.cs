using System.Net;
using System.Net.Http.Json;
using System.Text;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Simulator;

/// <summary>The simulator inside the real app: only where it is allowed, and only when enabled.</summary>
public sealed class SimulatorHostingTests
{
    // Nothing listens on port 1: the app starts (and serves the simulator) with its database down.
    private const string UnreachableDatabase = "Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d;Timeout=2";

    [Fact]
    public void Enabling_the_simulator_in_production_stops_the_app_with_a_clear_message()
    {
        var error = StartupError(settings => settings["Simulator:Enabled"] = "true", environment: "Production");

        Assert.Contains("Simulator:Enabled is true in the 'Production' environment", error, StringComparison.Ordinal);
        Assert.Contains("Simulator__Enabled=false", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/simulator/")]
    [InlineData("GET", "/simulator/simulator.js")]
    [InlineData("GET", "/simulator/api/state")]
    [InlineData("POST", "/simulator/twilio/2010-04-01/Accounts/AC11111111111111111111111111111111/Calls.json")]
    [InlineData("GET", "/simulator/recordings/RE00000000000000000000000000000000")]
    public async Task A_disabled_simulator_does_not_exist(string method, string path)
    {
        await using var factory = new HotlineFactory(UnreachableDatabase);
        using var client = factory.CreateClient();

        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative)));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task The_enabled_simulator_serves_its_page_and_calls_the_real_app_over_signed_http()
    {
        // A voice URL nothing answers: this test is about the plumbing, not the IVR.
        await using var hotline = SimulatedHotline.Start(UnreachableDatabase, s => s["Simulator:VoiceUrl"] = "/simulator-test/nothing-here");
        using var client = hotline.CreateClient();

        using var page = await client.GetAsync(new Uri("/simulator/", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<h1>WSR Hotline call simulator</h1>", html, StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        using var notJson = await client.PostAsync(new Uri("/simulator/api/calls", UriKind.Relative),
            new StringContent("from=%2B15555550123", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, notJson.StatusCode);

        using var started = await client.PostAsJsonAsync(new Uri("/simulator/api/calls", UriKind.Relative), new { from = "+15555550123" });
        var state = await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        var call = state.GetProperty("call");
        Assert.Equal("Completed", call.GetProperty("state").GetString());
        var transcript = call.GetProperty("transcript").EnumerateArray().ToList();
        var webhook = transcript.First(e => e.GetProperty("kind").GetString() == "webhook");
        Assert.Equal("voice", webhook.GetProperty("purpose").GetString());
        Assert.Equal("https://hotline.test/simulator-test/nothing-here", webhook.GetProperty("url").GetString());
        Assert.Equal(404, webhook.GetProperty("statusCode").GetInt32());
        Assert.Contains(transcript, e => e.GetProperty("kind").GetString() == "error");

        // The same engine is what a test drives directly.
        Assert.Equal(call.GetProperty("sid").GetString(), Assert.Single(hotline.Simulator.Calls).Sid);
    }

    private static string StartupError(Action<Dictionary<string, string?>> adjust, string environment)
    {
        // Same retry as ConfigurationTests: only WebApplicationFactory's disposed-host race is retried.
        Exception error = null!;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var factory = new HotlineFactory(UnreachableDatabase, adjust, environment);
            error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
            if (error is not ObjectDisposedException)
            {
                break;
            }
        }

        return error.ToString();
    }
}
