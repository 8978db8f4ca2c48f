using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Twilio.TwiML;
using WsrHotline.Spool;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Messaging;

/// <summary>Texts and delivery reports that arrive while PostgreSQL is down are answered 200, kept on disk, and stored once it is back.</summary>
public sealed class MessagingOutageTests
{
    private const string Incoming = "/twilio/messaging/incoming";

    private static Task<HttpResponseMessage> PostTextAsync(MessagingScenario scenario, string sid, string from, string body) =>
        scenario.PostAsync(Incoming, ("MessageSid", sid), ("From", from), ("To", MessagingScenario.SmsNumber), ("Body", body), ("NumMedia", "0"));

    [Fact]
    public async Task During_a_database_outage_texts_are_answered_200_and_stored_once_each_in_each_senders_order_with_their_replies()
    {
        var port = new NpgsqlConnectionStringBuilder(PostgresServer.AdminConnectionString).Port;
        await using var relay = new TcpRelay(port);
        relay.Start();
        var viaRelay = new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionStringFor("{database}")) { Port = relay.Port, Timeout = 2 }.ConnectionString;
        // The spool is replayed when the test says (after texts that arrive once the database is back), not on a timer.
        await using var scenario = await MessagingScenario.StartAsync(viaRelay, s => s["Spool:ReplayInterval"] = "01:00:00");
        var spool = scenario.Factory.Services.GetRequiredService<WebhookSpool>();
        var workers = new[] { "+15555550401", "+15555550402", "+15555550403" };

        // Before the outage, a reply goes out; its delivery report will arrive during the outage.
        const string reported = "+15555550409";
        await scenario.TextAsync(reported, "Hello, the boss did not pay us.");
        Assert.Equal(1, await scenario.Sender.SendDueAsync(CancellationToken.None));
        var replySid = Assert.Single(await scenario.RepliesAsync(reported)).MessageSid!;

        relay.Stop();

        // Three workers text ten times each, at once; each text is answered as usual, at once.
        var empty = TwimlWriter.ToXml(new MessagingResponse());
        await Task.WhenAll(workers.Select(async (worker, w) =>
        {
            for (var i = 0; i < 10; i++)
            {
                var response = await PostTextAsync(scenario, $"SMout{w}x{i:D2}", worker, $"Hello, the boss did not pay us ({i}).");
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"text {i} of worker {w}: {response.StatusCode}");
                Assert.Equal(empty, await response.Content.ReadAsStringAsync());
            }
        }));
        var delivered = await scenario.PostAsync("/twilio/messaging/status", ("MessageSid", replySid), ("MessageStatus", "delivered"));
        Assert.Equal(HttpStatusCode.OK, delivered.StatusCode);

        // Kept on disk, encrypted: no number, no words.
        Assert.Equal(31, spool.Pending().Count);
        Assert.All(spool.Pending(), file =>
        {
            var kept = File.ReadAllText(file);
            Assert.DoesNotContain("555555040", kept, StringComparison.Ordinal);
            Assert.DoesNotContain("did not pay", kept, StringComparison.Ordinal);
        });
        using (var client = scenario.Factory.CreateClient())
        {
            var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("31 webhook(s) waiting in the outage spool", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The database is back. Before the spool is replayed each worker texts twice more, and Twilio
        // delivers one outage text again: none may overtake the texts kept during the outage.
        relay.Start();
        await Task.WhenAll(workers.Select(async (worker, w) =>
        {
            for (var i = 10; i < 12; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, $"SMout{w}x{i:D2}", worker, $"Hello, the boss did not pay us ({i}).")).StatusCode);
            }
        }));
        Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMout1x03", workers[1], "Hello, the boss did not pay us (3).")).StatusCode);
        Assert.Contains("[4040] Message webhook SMout0x10 kept in the outage spool (the spool is draining)", scenario.Factory.Logs.All, StringComparison.Ordinal);

        Assert.Equal(38, await scenario.Factory.Services.GetRequiredService<SpoolReplayer>().ReplayPendingAsync(CancellationToken.None));
        Assert.Empty(spool.Pending());
        await InboxWait.DrainedAsync(scenario.DataSource);

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        for (var w = 0; w < workers.Length; w++)
        {
            // Once each, in the order the worker sent them; one complaint; a reply to each text, the case number first.
            var pattern = $"SMout{w}x%";
            Assert.Equal(
                Enumerable.Range(0, 12).Select(i => $"SMout{w}x{i:D2}"),
                await connection.QueryAsync<string>("SELECT message_sid FROM messages WHERE message_sid LIKE @pattern ORDER BY id", new { pattern }));
            var replies = await scenario.RepliesAsync(workers[w]);
            Assert.Equal(["case_opened", .. Enumerable.Repeat("received", 11)], replies.Select(reply => reply.Purpose));
        }
        Assert.Equal(4, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        Assert.Equal("delivered", await connection.ExecuteScalarAsync<string>("SELECT status FROM messages WHERE message_sid = @replySid", new { replySid }));

        // The workers get their replies.
        while (await scenario.Sender.SendDueAsync(CancellationToken.None) > 0)
        {
        }
        foreach (var worker in workers)
        {
            Assert.Equal(12, scenario.Sent.Count(form => form["To"] == worker));
        }
        MessagingIntakeTests.AssertNoPii(scenario, workers[0], "did not pay");
    }
}
