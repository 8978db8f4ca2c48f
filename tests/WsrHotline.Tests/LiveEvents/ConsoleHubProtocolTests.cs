using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using WsrHotline.Staff;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Messaging;

namespace WsrHotline.Tests.LiveEvents;

/// <summary>
/// The console hub as a console program sees it, over the SignalR JSON protocol (the raw client of
/// Infrastructure/RawSignalRClient.cs, also used by the console benchmark): who may connect, which
/// live events reach whom, and catching up after a reconnect.
/// </summary>
public sealed class ConsoleHubProtocolTests
{
    private const string SpanishText = "No nos pagaron las horas extra de la semana pasada en el almacén.";
    private const string BengaliText = "আমাদের গত মাসের মজুরি এখনও দেওয়া হয়নি।";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_signed_out_client_cannot_connect_to_the_hub()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        using var http = scenario.Factory.CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(new CookieContainer()));

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => ConnectAsync(scenario, http, new CookieContainer()));

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task An_investigator_receives_messages_in_their_language_and_not_in_another()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        var (http, cookies) = await SignedInAsync(scenario, "lucia@hotline.test", ["es"]);
        using var _ = http;
        await using var console = await ConnectAsync(scenario, http, cookies);
        await WaitUntilRelayListensAsync(console);

        // Bengali first: the relay forwards in commit order, so had it reached this Spanish-only
        // console it would arrive before the Spanish message's event.
        var bengaliSid = await scenario.TextAsync("+15555550201", BengaliText);
        var spanishSid = await scenario.TextAsync("+15555550202", SpanishText);
        var bengaliId = await MessageIdAsync(scenario, bengaliSid);
        var spanishId = await MessageIdAsync(scenario, spanishSid);

        var received = new List<long>();
        var spanish = await console.WaitForAsync(invocation =>
        {
            if (invocation.Target == "MessageReceived")
            {
                received.Add(MessageIdOf(invocation.Event));
            }
            return invocation.Target == "MessageReceived" && MessageIdOf(invocation.Event) == spanishId;
        }, Patience);

        Assert.Equal([spanishId], received);
        Assert.DoesNotContain(bengaliId, received);
        Assert.Equal("message.received", spanish.Event.GetProperty("kind").GetString());
        Assert.Equal(await ComplaintOfAsync(scenario, spanishId), spanish.Event.GetProperty("complaintId").GetInt64());
        // Ids and labels only: the worker's words never travel in a live event.
        Assert.DoesNotContain("pagaron", spanish.Event.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_console_that_reconnects_catches_up_on_what_it_missed()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        var (http, cookies) = await SignedInAsync(scenario, "lucia@hotline.test", ["es"]);
        using var _ = http;
        long lastSeen;
        await using (var console = await ConnectAsync(scenario, http, cookies))
        {
            await WaitUntilRelayListensAsync(console);
            var firstId = await MessageIdAsync(scenario, await scenario.TextAsync("+15555550203", SpanishText));
            var first = await console.WaitForAsync(i => i.Target == "MessageReceived" && MessageIdOf(i.Event) == firstId, Patience);
            lastSeen = first.Event.GetProperty("id").GetInt64();
        }

        // While the console is away: a Spanish message for it, a Bengali one not for it.
        var missedSpanishId = await MessageIdAsync(scenario, await scenario.TextAsync("+15555550204", SpanishText));
        var missedBengaliId = await MessageIdAsync(scenario, await scenario.TextAsync("+15555550205", BengaliText));

        await using var again = await ConnectAsync(scenario, http, cookies);
        var caughtUp = await again.InvokeAsync("CatchUp", [lastSeen]);

        var messages = caughtUp.EnumerateArray()
            .Where(e => e.GetProperty("kind").GetString() == "message.received")
            .Select(MessageIdOf).ToList();
        Assert.Equal([missedSpanishId], messages);
        Assert.DoesNotContain(missedBengaliId, messages);
        Assert.All(caughtUp.EnumerateArray(), e => Assert.True(e.GetProperty("id").GetInt64() > lastSeen));
    }

    [Fact]
    public async Task Live_events_still_reach_the_consoles_while_requests_hold_every_pooled_connection()
    {
        // A small pool that gives up quickly, as a busy instance's pool looks under load.
        await using var scenario = await MessagingScenario.StartAsync(
            PostgresServer.ConnectionStringFor("{database}") + ";Maximum Pool Size=4;Timeout=1");
        var (http, cookies) = await SignedInAsync(scenario, "lucia@hotline.test", ["es"]);
        using var _ = http;
        await using var console = await ConnectAsync(scenario, http, cookies);
        await WaitUntilRelayListensAsync(console);

        // Requests take every connection the pool has left (the relay's LISTEN holds one).
        var held = new List<Npgsql.NpgsqlConnection>();
        try
        {
            while (true)
            {
                held.Add(await scenario.DataSource.OpenConnectionAsync());
            }
        }
        catch (Npgsql.NpgsqlException)
        {
            // The pool is exhausted.
        }
        try
        {
            // Another instance (its own pool) commits a message event for Spanish.
            await using var otherInstance = Npgsql.NpgsqlDataSource.Create(PostgresServer.ConnectionStringFor(
                new Npgsql.NpgsqlConnectionStringBuilder(scenario.DataSource.ConnectionString).Database!));
            await using var connection = await otherInstance.OpenConnectionAsync();
            await WsrHotline.LiveEvents.ConsoleEvents.AppendAsync(connection, null, "message.received", "lang:es", null,
                new { messageId = 424242L }, CancellationToken.None);

            var received = await console.WaitForAsync(i => i.Target == "MessageReceived", TimeSpan.FromSeconds(5));
            Assert.Equal(424242L, MessageIdOf(received.Event));
        }
        finally
        {
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private static long MessageIdOf(JsonElement consoleEvent) => consoleEvent.GetProperty("payload").GetProperty("messageId").GetInt64();

    private static async Task<(HttpClient Http, CookieContainer Cookies)> SignedInAsync(MessagingScenario scenario, string email, string[] languages)
    {
        const string password = "a long test password";
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            var id = await connection.ExecuteScalarAsync<int>(
                "INSERT INTO staff (email, display_name, role, team) VALUES (@email, 'Lucía Test', 'investigator', 'Florida') RETURNING id", new { email });
            await connection.ExecuteAsync("""
                UPDATE staff SET password_hash = @hash WHERE id = @id;
                INSERT INTO staff_languages (staff_id, language_code) SELECT @id, unnest(@languages);
                """, new { id, hash = StaffPasswords.Hash(new StaffMember(id, email), password), languages });
        }
        var cookies = new CookieContainer();
        var http = scenario.Factory.CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(cookies));
        await StaffSignInForm.SignInAsync(http, email, password);
        return (http, cookies);
    }

    private static Task<RawSignalRClient> ConnectAsync(MessagingScenario scenario, HttpClient http, CookieContainer cookies) =>
        RawSignalRClient.ConnectAsync(http, new Uri("http://localhost/hubs/console"), (url, cancellationToken) =>
        {
            var sockets = scenario.Factory.Server.CreateWebSocketClient();
            sockets.ConfigureRequest = request => request.Headers.Cookie = cookies.GetCookieHeader(new Uri("http://localhost/"));
            return sockets.ConnectAsync(url, cancellationToken);
        });

    // The console's own connection announces its presence through the relay: once that arrives, the
    // relay is listening and later events cannot fall before its start.
    private static Task<HubInvocation> WaitUntilRelayListensAsync(RawSignalRClient console) =>
        console.WaitForAsync(invocation => invocation.Target == "PresenceChanged", Patience);

    private static async Task<long> MessageIdAsync(MessagingScenario scenario, string messageSid)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT id FROM messages WHERE message_sid = @messageSid", new { messageSid });
    }

    private static async Task<long> ComplaintOfAsync(MessagingScenario scenario, long messageId)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT complaint_id FROM messages WHERE id = @messageId", new { messageId });
    }
}
