using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Messaging;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// The messaging inbox: the webhook answers once the text is kept, the processor handles it later,
/// one sender at a time in arrival order, exactly once, across instances and restarts.
/// </summary>
public sealed partial class InboxTests
{
    private const string Incoming = "/twilio/messaging/incoming";

    private static Task<HttpResponseMessage> PostTextAsync(MessagingScenario scenario, string sid, string from, string body) =>
        scenario.PostAsync(Incoming, ("MessageSid", sid), ("From", from), ("To", MessagingScenario.SmsNumber), ("Body", body), ("NumMedia", "0"));

    /// <summary>Another app instance over the scenario's database (or the same app after a restart), processing the inbox.</summary>
    private static async Task<HotlineFactory> SecondInstanceAsync(
        MessagingScenario scenario, int? inboxWorkers = null, Action<Dictionary<string, string?>>? adjust = null)
    {
        var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(scenario.Database), settings =>
        {
            settings["Messaging:InboxPollInterval"] = "00:00:00.2";
            if (inboxWorkers is { } workers)
            {
                settings["Messaging:InboxWorkers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            adjust?.Invoke(settings);
        });
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);
        return factory;
    }

    private static async Task<T> ScalarAsync<T>(MessagingScenario scenario, string sql, object? parameters = null)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, parameters))!;
    }

    /// <summary>How many times each MessageSid was processed, from the processors' log lines (event 4001).</summary>
    private static Dictionary<string, int> ProcessedCounts(params HotlineFactory[] instances) =>
        instances.SelectMany(instance => instance.Logs.All.Split('\n'))
            .Select(line => ProcessedLine().Match(line)).Where(match => match.Success)
            .GroupBy(match => match.Groups["sid"].Value).ToDictionary(group => group.Key, group => group.Count());

    [Fact]
    public async Task The_webhook_answers_and_keeps_the_text_while_processing_is_stopped_and_another_instance_processes_it_later()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxProcessorEnabled"] = "false");
        const string worker = "+15555550301";
        const string words = "Hola, en la finca no nos pagan las horas extra.";

        var answer = await PostTextAsync(scenario, "SMinbox0001", worker, words);

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(Twilio.TwimlWriter.ToXml(new global::Twilio.TwiML.MessagingResponse()), await answer.Content.ReadAsStringAsync());
        var payload = await ScalarAsync<string>(scenario, "SELECT payload_encrypted FROM inbound_inbox WHERE message_sid = 'SMinbox0001'");
        Assert.DoesNotContain("5555550301", payload, StringComparison.Ordinal);
        Assert.DoesNotContain("finca", payload, StringComparison.Ordinal);
        // No processor runs on this instance (InboxProcessorEnabled=false): nothing to wait for.
        Assert.Equal(0, await ScalarAsync<int>(scenario, "SELECT count(*) FROM messages"));

        await using var restarted = await SecondInstanceAsync(scenario);
        await InboxWait.ProcessedAsync(scenario.DataSource, "SMinbox0001");

        Assert.Equal(["case_opened"], (await scenario.RepliesAsync(worker)).Select(reply => reply.Purpose));
        Assert.Equal(1, await ScalarAsync<int>(scenario, "SELECT count(*) FROM complaints WHERE language_code = 'es'"));
        // Processed, the text has left the inbox (its words live on in messages only) ...
        Assert.Equal(0, await ScalarAsync<int>(scenario, "SELECT count(*) FROM inbound_inbox"));
        // ... and Twilio retrying the webhook afterwards changes nothing.
        Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMinbox0001", worker, words)).StatusCode);
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(1, await ScalarAsync<int>(scenario, "SELECT count(*) FROM messages WHERE direction = 'inbound'"));
        Assert.Single(await scenario.RepliesAsync(worker));
        MessagingIntakeTests.AssertNoPii(scenario, worker, "en la finca");
    }

    [Fact]
    public async Task A_duplicate_messagesid_while_the_first_is_unprocessed_keeps_one_row_and_makes_one_message()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxProcessorEnabled"] = "false");
        const string worker = "+15555550302";

        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PostTextAsync(scenario, "SMinboxdup", worker, "Hello, my boss did not pay my overtime hours.")));
        var again = await PostTextAsync(scenario, "SMinboxdup", worker, "Hello, my boss did not pay my overtime hours.");

        Assert.All(answers.Append(again), answer => Assert.Equal(HttpStatusCode.OK, answer.StatusCode));
        Assert.Equal(1, await ScalarAsync<int>(scenario, "SELECT count(*) FROM inbound_inbox"));
        await using var restarted = await SecondInstanceAsync(scenario);
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(1, await ScalarAsync<int>(scenario, "SELECT count(*) FROM messages WHERE direction = 'inbound'"));
        Assert.Single(await scenario.RepliesAsync(worker));
    }

    [Fact]
    public async Task Twenty_texts_from_one_sender_posted_at_once_are_processed_in_their_inbox_order()
    {
        // Kept while nobody processes, so their inbox order can be read before processing removes them.
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxProcessorEnabled"] = "false");
        const string worker = "+15555550303";
        Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMorder0000", worker, "Hola, en la finca no nos pagan las horas extra.")).StatusCode);

        var answers = await Task.WhenAll(Enumerable.Range(1, 20).Select(i => PostTextAsync(scenario, $"SMorder{i:D4}", worker, $"Y otra cosa más ({i}).")));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.OK, answer.StatusCode));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var inboxOrder = (await connection.QueryAsync<string>("SELECT message_sid FROM inbound_inbox WHERE message_sid LIKE 'SMorder%' ORDER BY id")).ToList();
        await using var processing = await SecondInstanceAsync(scenario);
        await InboxWait.DrainedAsync(scenario.DataSource);
        var processedOrder = (await connection.QueryAsync<string>(
            "SELECT message_sid FROM messages WHERE direction = 'inbound' AND message_sid LIKE 'SMorder%' ORDER BY id")).ToList();
        Assert.Equal(21, processedOrder.Count);
        Assert.Equal(inboxOrder, processedOrder);
        // The timeline, as an investigator reads it, has them in the same order, all on the one complaint.
        Assert.Equal(inboxOrder, await connection.QueryAsync<string>("""
            SELECT details->>'message_sid' FROM case_timeline
            WHERE kind = 'message.received' AND details->>'message_sid' LIKE 'SMorder%' ORDER BY id
            """));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
    }

    [Fact]
    public async Task An_unreadable_text_counts_an_attempt_and_the_other_senders_texts_are_processed_once_each()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxProcessorEnabled"] = "false");
        var inbox = scenario.Factory.Services.GetRequiredService<Inbox>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        // Six senders' texts wait together, the third one unreadable (as after a lost PII key).
        var senders = Enumerable.Range(0, 6).Select(i => $"+1555555033{i}").ToArray();
        for (var i = 0; i < senders.Length; i++)
        {
            if (i == 2)
            {
                await connection.ExecuteAsync(
                    "INSERT INTO inbound_inbox (message_sid, sender_key, payload_encrypted) VALUES ('SMbatchbroken', @key, 'k9:bm90IGEgcGF5bG9hZA==')",
                    new { key = inbox.SenderKey(senders[i]) });
                continue;
            }
            Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, $"SMbatch{i}", senders[i], "Hello, my boss did not pay my overtime hours.")).StatusCode);
        }

        // One processing loop: each text in a transaction of its own.
        await using var processing = await SecondInstanceAsync(scenario, inboxWorkers: 1);
        await Eventually.TrueAsync(async () => await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM inbound_inbox WHERE attempts = 0") == 0,
            "every text in the inbox tried at least once", interval: TimeSpan.FromMilliseconds(100));

        // The five good texts are processed once each, with their replies; the broken one counts an attempt and waits.
        Assert.Equal(["SMbatchbroken"], await connection.QueryAsync<string>("SELECT message_sid FROM inbound_inbox WHERE attempts = 1 AND failed_at IS NULL"));
        Assert.Equal(5, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM messages WHERE direction = 'inbound' AND message_sid LIKE 'SMbatch%'"));
        Assert.Equal(5, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        foreach (var sender in senders.Where((_, i) => i != 2))
        {
            Assert.Equal(["case_opened"], (await scenario.RepliesAsync(sender)).Select(reply => reply.Purpose));
        }
        Assert.All(ProcessedCounts(processing), pair => Assert.Equal(1, pair.Value));
    }

    [Fact]
    public async Task A_status_text_with_a_pin_waiting_beside_a_text_for_the_same_complaint_is_checked_alone()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxProcessorEnabled"] = "false");
        const string worker = "+15555550350";
        const string otherPhone = "+15555550351";
        await using (var opening = await SecondInstanceAsync(scenario))
        {
            Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMpin0001", worker, "Hola, en la finca no nos pagan las horas extra.")).StatusCode);
            await InboxWait.DrainedAsync(scenario.DataSource);
        }
        var (caseNumber, pin) = MessagingIntakeTests.CaseAndPin(scenario, "es", (await scenario.RepliesAsync(worker))[0].Body);

        // While nobody processes, the worker writes again (joining the complaint, which locks its row) and
        // asks for its status from another phone (the PIN check locks that row from a connection of its own).
        Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMpin0002", worker, "Y además nos quitaron el pasaporte.")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostTextAsync(scenario, "SMpin0003", otherPhone, $"ESTADO {caseNumber} {pin}")).StatusCode);
        // One loop: the check commits on a connection of its own while the joining text's transaction holds the complaint.
        await using var processing = await SecondInstanceAsync(scenario, inboxWorkers: 1);
        await InboxWait.DrainedAsync(scenario.DataSource);

        Assert.Equal(["status"], (await scenario.RepliesAsync(otherPhone)).Select(reply => reply.Purpose));
        Assert.Equal(["case_opened", "received"], (await scenario.RepliesAsync(worker)).Select(reply => reply.Purpose));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT pin_failed_attempts FROM complaints WHERE case_number = @caseNumber", new { caseNumber }));
    }

    [Fact]
    public async Task Two_instances_processing_one_database_handle_every_text_exactly_once_and_each_senders_texts_in_order()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s => s["Messaging:InboxPollInterval"] = "00:00:00.2");
        await using var second = await SecondInstanceAsync(scenario);
        var senders = Enumerable.Range(0, 5).Select(i => $"+1555555031{i}").ToArray();

        // Each sender's texts go alternately to the two instances, all senders at once.
        var answers = await Task.WhenAll(senders.Select(async (sender, s) =>
        {
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 8; i++)
            {
                var form = new[] { ("MessageSid", $"SMtwo{s}x{i:D2}"), ("From", sender), ("To", MessagingScenario.SmsNumber), ("Body", $"Hello, the boss did not pay us ({i}).") };
                var response = i % 2 == 0 ? await scenario.PostAsync(Incoming, form) : await MessagingScenario.PostAsync(second, Incoming, form);
                statuses.Add(response.StatusCode);
            }
            return statuses;
        }));

        Assert.All(answers.SelectMany(statuses => statuses), status => Assert.Equal(HttpStatusCode.OK, status));
        await InboxWait.DrainedAsync(scenario.DataSource);
        // Each processor logs a message once its transaction has committed: the last lines may trail the commit.
        await Eventually.TrueAsync(() => ProcessedCounts(scenario.Factory, second).Count(pair => pair.Key.StartsWith("SMtwo", StringComparison.Ordinal)) >= 40,
            () => $"{ProcessedCounts(scenario.Factory, second).Count(pair => pair.Key.StartsWith("SMtwo", StringComparison.Ordinal))} of the 40 texts logged as processed");
        var counts = ProcessedCounts(scenario.Factory, second);
        Assert.Equal(40, counts.Count(pair => pair.Key.StartsWith("SMtwo", StringComparison.Ordinal)));
        Assert.All(counts, pair => Assert.Equal(1, pair.Value));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        for (var s = 0; s < senders.Length; s++)
        {
            // Each sender's webhooks went one after the other (each answered once kept): that is their inbox order.
            var pattern = $"SMtwo{s}x%";
            Assert.Equal(
                Enumerable.Range(0, 8).Select(i => $"SMtwo{s}x{i:D2}"),
                await connection.QueryAsync<string>("SELECT message_sid FROM messages WHERE message_sid LIKE @pattern ORDER BY id", new { pattern }));
        }
        // Each text got its one reply: the case number for the first, "received" for the others.
        Assert.Equal(40, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM messages WHERE direction = 'outbound'"));
        Assert.Equal(5, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
    }

    [Fact]
    public async Task A_text_whose_processing_keeps_failing_is_retried_then_marked_failed_without_holding_back_another_sender()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s =>
        {
            s["Messaging:InboxMaxAttempts"] = "3";
            s["Messaging:InboxRetryBaseDelay"] = "00:00:01";
            s["Messaging:InboxPollInterval"] = "00:00:00.1";
        });
        const string broken = "+15555550320";
        const string other = "+15555550321";
        var inbox = scenario.Factory.Services.GetRequiredService<Inbox>();
        // A row no key can read (as after a lost PII key): every attempt throws.
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            "INSERT INTO inbound_inbox (message_sid, sender_key, payload_encrypted) VALUES ('SMbroken', @key, 'k9:bm90IGEgcGF5bG9hZA==')",
            new { key = inbox.SenderKey(broken) });
        // The same worker's next text waits behind it (order); another worker's does not.
        var later = await PostTextAsync(scenario, "SMbrokenlater", broken, "Hello, my boss did not pay my overtime hours.");
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);

        await scenario.TextAsync(other, "Hello, the supervisor shouts at us every day.");

        Assert.Equal(["case_opened"], (await scenario.RepliesAsync(other)).Select(reply => reply.Purpose));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM inbound_inbox WHERE message_sid = 'SMbrokenlater' AND failed_at IS NULL"));

        await InboxWait.DrainedAsync(scenario.DataSource);
        var failed = await connection.QuerySingleAsync<(int Attempts, bool Failed, string LastError)>(
            "SELECT attempts, failed_at IS NOT NULL, last_error FROM inbound_inbox WHERE message_sid = 'SMbroken'");
        Assert.Equal((3, true), (failed.Attempts, failed.Failed));
        Assert.Matches("^[A-Za-z]+Exception$", failed.LastError);
        // Logged once the failure is committed: the line may trail the commit by a moment.
        await Eventually.TrueAsync(() => scenario.Factory.Logs.All.Contains("[4033] Message SMbroken", StringComparison.Ordinal), "SMbroken's last failure logged (4033)");
        Assert.Equal(2, Regex.Count(scenario.Factory.Logs.All, @"\[4032\] Message SMbroken:"));
        Assert.Contains($"[4033] Message SMbroken: processing failed 3 times ({failed.LastError})", scenario.Factory.Logs.All, StringComparison.Ordinal);
        // Staff see it: /health/ready reports it (still 200, the hotline takes texts).
        using var client = scenario.Factory.CreateClient();
        var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var report = System.Text.Json.JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("messaging_inbox");
        Assert.Equal("Degraded", report.GetProperty("status").GetString());
        Assert.StartsWith("1 message(s) failed processing", report.GetProperty("description").GetString(), StringComparison.Ordinal);
        // Once it is given up, the worker's later text is processed.
        Assert.Equal(["case_opened"], (await scenario.RepliesAsync(broken)).Select(reply => reply.Purpose));
        MessagingIntakeTests.AssertNoPii(scenario, broken, "my boss");
    }

    [GeneratedRegex(@"\[4001\] Message (?<sid>SM\w+) on ")]
    private static partial Regex ProcessedLine();
}
