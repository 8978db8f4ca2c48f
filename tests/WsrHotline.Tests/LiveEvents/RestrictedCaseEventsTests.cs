using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using WsrHotline.LiveEvents;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.LiveConsole;

namespace WsrHotline.Tests.LiveEvents;

/// <summary>
/// Events of a case restricted to team north, over the console hub: north's investigator, the
/// coordinator and the admin get them (CaseAccess: they may open it), south's investigator of the same
/// language gets nothing about the case, live or on catch-up, while still getting the events of an
/// unrestricted case.
/// </summary>
public sealed class RestrictedCaseEventsTests(CaseWorkApp app) : IClassFixture<CaseWorkApp>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Only_those_who_may_open_a_restricted_case_receive_its_events_live_and_on_catch_up()
    {
        var (restricted, _) = await app.OpenCaseAsync();
        var (open, _) = await app.OpenCaseAsync();
        var caseNumber = await app.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @restricted", new { restricted });
        Assert.Equal(HttpStatusCode.NoContent, (await app.Coordinator.PostJsonAsync($"/console/api/complaints/{restricted}/restriction", new { team = "north" })).StatusCode);
        var before = await app.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM console_events");

        var consoles = new Dictionary<string, Console>(StringComparer.Ordinal);
        try
        {
            foreach (var email in new[] { "north@test", "south@test", "coord@test", "admin@test" })
            {
                consoles[email] = await Console.ConnectAsync(app, email);
            }

            // The restricted case's team works on it: status, severity, summary, note.
            var north = app.North;
            Assert.Equal(HttpStatusCode.NoContent, (await north.PostJsonAsync($"/console/api/complaints/{restricted}/status", new { status = "acknowledged" })).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await north.PostJsonAsync($"/console/api/complaints/{restricted}/severity", new { severity = "retaliation" })).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await north.PostJsonAsync($"/console/api/complaints/{restricted}/summary", new { text = "Supervisor threatened the worker." })).StatusCode);
            Assert.True((await north.PostJsonAsync($"/console/api/complaints/{restricted}/notes", new { body = "Called back." })).IsSuccessStatusCode);
            // An event that names the case only in its payload (no complaint_id), as an offer or a
            // dashboard line could: held back all the same.
            await using (var connection = await app.DataSource.OpenConnectionAsync())
            {
                await ConsoleEvents.AppendAsync(connection, null, ConsoleEventKinds.CallOffered, Audience.Language("es"), null,
                    new { callId = 1, complaintId = restricted, caseNumber, language = "es" }, CancellationToken.None);
                await ConsoleEvents.AppendAsync(connection, null, ConsoleEventKinds.Dashboard, Audience.Coordinators, null,
                    new { reason = "test", complaint_id = restricted, severity = "retaliation" }, CancellationToken.None);
            }
            // Then the unrestricted case: forwarded in commit order, it arrives after everything above.
            Assert.Equal(HttpStatusCode.NoContent, (await north.PostJsonAsync($"/console/api/complaints/{open}/status", new { status = "acknowledged" })).StatusCode);

            foreach (var console in consoles.Values)
            {
                await console.WaitForCaseAsync(open);
            }

            bool About(JsonElement e) => IsAbout(e, restricted, caseNumber);
            Assert.DoesNotContain(consoles["south@test"].Received, About);
            foreach (var email in new[] { "north@test", "coord@test", "admin@test" })
            {
                // Four changes by north (the restriction itself came before these consoles connected) and the offer.
                Assert.True(consoles[email].Received.Count(About) >= 5,
                    $"{email} received {consoles[email].Received.Count(About)} events of the restricted case: {string.Join(", ", consoles[email].Received.Where(About).Select(e => e.GetProperty("kind").GetString()))}");
            }
            Assert.Contains(consoles["coord@test"].Received, e => About(e) && e.GetProperty("kind").GetString() == ConsoleEventKinds.Dashboard);

            // Catch-up from before the restriction: the same rule.
            var south = await consoles["south@test"].Client.InvokeAsync("CatchUp", [before - 1]);
            Assert.Contains(south.EnumerateArray(), e => e.GetProperty("complaintId").ValueKind == JsonValueKind.Number && e.GetProperty("complaintId").GetInt64() == open);
            Assert.DoesNotContain(south.EnumerateArray(), About);
            var southFromStart = await consoles["south@test"].Client.InvokeAsync("CatchUp", [0L]);
            Assert.DoesNotContain(southFromStart.EnumerateArray(), About);
            foreach (var email in new[] { "north@test", "coord@test", "admin@test" })
            {
                var caughtUp = await consoles[email].Client.InvokeAsync("CatchUp", [0L]);
                Assert.True(caughtUp.EnumerateArray().Count(About) >= 6, $"{email} caught up on {caughtUp.EnumerateArray().Count(About)} events of the restricted case.");
            }
        }
        finally
        {
            foreach (var console in consoles.Values)
            {
                await console.DisposeAsync();
            }
        }
    }

    private static bool IsAbout(JsonElement e, long complaintId, string caseNumber)
    {
        var raw = e.GetRawText();
        return (e.GetProperty("complaintId").ValueKind == JsonValueKind.Number && e.GetProperty("complaintId").GetInt64() == complaintId)
            || raw.Contains(caseNumber, StringComparison.Ordinal)
            || raw.Contains($"\"complaintId\":{complaintId}", StringComparison.Ordinal)
            || raw.Contains($"\"complaint_id\":{complaintId}", StringComparison.Ordinal);
    }

    /// <summary>A console program connected to the hub as one staff member, keeping every event it receives.</summary>
    private sealed class Console : IAsyncDisposable
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<JsonElement> _received = new();
        private readonly HttpClient _http;
        private RawSignalRClient? _client;

        private Console(HttpClient http) => _http = http;

        public RawSignalRClient Client => _client!;

        public IReadOnlyCollection<JsonElement> Received => _received;

        public static async Task<Console> ConnectAsync(CaseWorkApp app, string email)
        {
            var cookies = new CookieContainer();
            var console = new Console(app.Factory.CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(cookies)));
            await StaffSignInForm.SignInAsync(console._http, email, StaffSession.DefaultPassword);
            var presence = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            console._client = await RawSignalRClient.ConnectAsync(console._http, new Uri("http://localhost/hubs/console"), (url, cancellationToken) =>
            {
                var sockets = app.Factory.Server.CreateWebSocketClient();
                sockets.ConfigureRequest = request => request.Headers.Cookie = cookies.GetCookieHeader(new Uri("http://localhost/"));
                return sockets.ConnectAsync(url, cancellationToken);
            }, invocation =>
            {
                if (invocation.Target == "PresenceChanged")
                {
                    presence.TrySetResult();
                }
                console._received.Enqueue(invocation.Event.Clone());
            });
            // Its own presence event came back through the relay: it is listening.
            await presence.Task.WaitAsync(Patience);
            return console;
        }

        public async Task WaitForCaseAsync(long complaintId)
        {
            await Eventually.TrueAsync(
                () => _received.Any(e => e.GetProperty("complaintId").ValueKind == JsonValueKind.Number && e.GetProperty("complaintId").GetInt64() == complaintId),
                $"an event of case {complaintId} reached this console", Patience);
        }

        public async ValueTask DisposeAsync()
        {
            if (_client is not null)
            {
                await _client.DisposeAsync();
            }
            _http.Dispose();
        }
    }
}
