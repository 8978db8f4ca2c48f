using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Messaging;

public sealed partial class MessagingIntakeTests
{
    [Theory]
    [InlineData("es", "Hola, en la finca no nos pagan las horas extra y el patrón nos grita.")]
    [InlineData("ht", "Bonjou, patwon an pa peye nou lajan nou pou travay semèn pase a.")]
    [InlineData("bn", "আমাদের কারখানায় তিন মাস ধরে বেতন দেওয়া হয়নি।")]
    [InlineData("en", "Hello, my boss at the farm did not pay my overtime hours this week.")]
    public async Task A_first_text_in_a_hotline_language_is_answered_in_it_with_a_case_number_and_a_pin_that_verifies(string language, string text)
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550140";

        await scenario.TextAsync(worker, text);

        var reply = Assert.Single(await scenario.RepliesAsync(worker));
        Assert.Equal(("pending", "case_opened"), (reply.Status, reply.Purpose));
        Assert.StartsWith(scenario.Text(language, IvrPromptKeys.SmsWelcome), reply.Body, StringComparison.Ordinal);
        var (caseNumber, pin) = CaseAndPin(scenario, language, reply.Body);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaint = await connection.QuerySingleAsync<(string Language, string Channel, bool PinTold)>(
            "SELECT language_code, channel, pin_told_at IS NOT NULL FROM complaints WHERE case_number = @caseNumber", new { caseNumber });
        Assert.Equal((language, "sms", true), complaint);
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("""
            SELECT count(*) FROM messages m JOIN complaints c ON c.id = m.complaint_id
            WHERE c.case_number = @caseNumber AND m.direction = 'inbound'
            """, new { caseNumber }));
        var verified = await scenario.Factory.Services.GetRequiredService<PinChecks>().VerifyAsync(caseNumber, pin, "sms", null, CancellationToken.None);
        Assert.Equal(PinCheckOutcome.Verified, verified.Outcome);
        AssertNoPii(scenario, worker, text);
    }

    [Fact]
    public async Task A_text_in_no_hotline_language_gets_the_menu_and_the_choice_opens_the_complaint_with_the_first_words()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+8801712345678";

        await scenario.TextAsync(worker, "工厂不付工资", to: MessagingScenario.WhatsAppSender);
        var menu = Assert.Single(await scenario.RepliesAsync(worker));
        Assert.Equal("language_menu", menu.Purpose);
        Assert.EndsWith("1 English, 2 Español, 3 Kreyòl, 4 বাংলা", menu.Body, StringComparison.Ordinal);

        await scenario.TextAsync(worker, "4", to: MessagingScenario.WhatsAppSender);

        var replies = await scenario.RepliesAsync(worker);
        Assert.Equal(2, replies.Count);
        Assert.StartsWith(scenario.Text("bn", IvrPromptKeys.SmsWelcome), replies[1].Body, StringComparison.Ordinal);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var attached = await connection.QueryAsync<string>(
            "SELECT m.purpose FROM messages m JOIN complaints c ON c.id = m.complaint_id WHERE m.direction = 'inbound' AND c.channel = 'whatsapp'");
        Assert.Equal(["complaint"], attached);
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM case_timeline WHERE kind = 'message.received'"));
    }

    [Fact]
    public async Task Later_texts_join_the_open_complaint_the_pin_is_told_once_and_new_opens_another()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550141";

        await scenario.TextAsync(worker, "Hola, trabajo en la finca y no nos pagan las horas.");
        await scenario.TextAsync(worker, "También el mayordomo nos grita.");
        await scenario.TextAsync(worker, new string('x', 2000));

        var replies = await scenario.RepliesAsync(worker);
        Assert.Equal(["case_opened", "received", "received"], replies.Select(r => r.Purpose));
        Assert.Equal(scenario.Text("es", IvrPromptKeys.SmsReceived), replies[1].Body);
        Assert.Single(replies, r => PinPattern().IsMatch(r.Body));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        Assert.Equal(3, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'message.received'"));
        // Stored whole, encrypted; no timeline entry holds the words.
        var pii = scenario.Factory.Services.GetRequiredService<WsrHotline.Pii.PiiProtector>();
        var longest = await connection.QueryFirstAsync<string>("SELECT body_encrypted FROM messages WHERE direction = 'inbound' ORDER BY length(body_encrypted) DESC");
        Assert.Equal(2000, pii.Decrypt(longest, WsrHotline.Pii.PiiPurpose.MessageBody).Length);
        Assert.DoesNotContain("mayordomo", await connection.ExecuteScalarAsync<string>("SELECT string_agg(details::text, ' ') FROM case_timeline"), StringComparison.Ordinal);

        // A keyword counts only alone: these are the worker's words, not commands.
        await scenario.TextAsync(worker, "Nuevo mayordomo, mismo problema.");
        await scenario.TextAsync(worker, "Alto el fuego no hay, ayuda por favor.");
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        Assert.Equal(["received", "received"], (await scenario.RepliesAsync(worker))[^2..].Select(r => r.Purpose));

        await scenario.TextAsync(worker, "NUEVO");

        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        Assert.Equal("case_opened", (await scenario.RepliesAsync(worker))[^1].Purpose);
    }

    [Fact]
    public async Task Texts_arriving_together_from_a_new_worker_open_one_complaint()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550139";

        await Task.WhenAll(Enumerable.Range(1, 6).Select(i => scenario.TextAsync(worker, $"Hola, en la finca no nos pagan las horas ({i}).")));

        Assert.Equal(["case_opened", "received", "received", "received", "received", "received"], (await scenario.RepliesAsync(worker)).Select(r => r.Purpose));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal((1, 6), await connection.QuerySingleAsync<(int, int)>("""
            SELECT (SELECT count(*)::int FROM complaints), (SELECT count(*)::int FROM messages WHERE direction = 'inbound' AND complaint_id IS NOT NULL)
            """));
    }

    [Fact]
    public async Task After_an_investigator_replied_later_texts_get_no_automatic_acknowledgement_but_still_reach_the_case_and_the_consoles()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550149";
        await scenario.TextAsync(worker, "Hola, trabajo en la finca y no nos pagan las horas.");
        await scenario.TextAsync(worker, "También el mayordomo nos grita.");
        // Before anyone has replied, a later text is acknowledged.
        Assert.Equal(["case_opened", "received"], (await scenario.RepliesAsync(worker)).Select(r => r.Purpose));
        Assert.Equal(scenario.Text("es", IvrPromptKeys.SmsReceived), (await scenario.RepliesAsync(worker))[^1].Body);

        long complaintId;
        int staffId;
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            complaintId = await connection.ExecuteScalarAsync<long>("SELECT id FROM complaints");
            staffId = await connection.ExecuteScalarAsync<int>("""
                INSERT INTO staff (email, display_name, role) VALUES ('replier@test.example', 'Replier', 'investigator') RETURNING id
                """);
        }
        var reply = await scenario.Factory.Services.GetRequiredService<WsrHotline.LiveConsole.StaffReplies>()
            .QueueAsync(complaintId, staffId, "Hola, soy la investigadora. ¿Cuándo le pagaron por última vez?", CancellationToken.None);
        Assert.NotNull(reply.MessageId);

        var sid = await scenario.TextAsync(worker, "Hace dos semanas.");
        await scenario.TextAsync(worker, "Y nos deben tres semanas.");

        // No automatic "an investigator will contact you": one is in touch already.
        Assert.Equal(["case_opened", "received", "staff_reply"], (await scenario.RepliesAsync(worker)).Select(r => r.Purpose));
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            // The texts still joined the case, and the consoles were told of each.
            var messageId = await connection.ExecuteScalarAsync<long>(
                "SELECT id FROM messages WHERE message_sid = @sid AND complaint_id = @complaintId", new { sid, complaintId });
            Assert.NotEqual(0, messageId);
            Assert.Equal(4, await connection.ExecuteScalarAsync<int>(
                "SELECT count(*) FROM messages WHERE direction = 'inbound' AND complaint_id = @complaintId", new { complaintId }));
            Assert.Equal(1, await connection.ExecuteScalarAsync<int>("""
                SELECT count(*) FROM console_events WHERE kind = 'message.received' AND complaint_id = @complaintId
                AND (payload ->> 'messageId')::bigint = @messageId
                """, new { complaintId, messageId }));
            Assert.Equal(4, await connection.ExecuteScalarAsync<int>(
                "SELECT count(*) FROM case_timeline WHERE kind = 'message.received' AND complaint_id = @complaintId", new { complaintId }));
        }
    }

    [Fact]
    public async Task Status_with_the_right_pin_tells_the_status_a_wrong_pin_does_not_and_three_lock_the_case()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550142";
        const string stranger = "+15555550143";
        await scenario.TextAsync(worker, "Bonjou, patwon an pa peye nou lajan nou.");
        var (caseNumber, pin) = CaseAndPin(scenario, "ht", (await scenario.RepliesAsync(worker))[0].Body);
        var wrongPin = pin == "0000" ? "1111" : "0000";

        await scenario.TextAsync(stranger, $"ESTADO {caseNumber} {pin}");
        await scenario.TextAsync(worker, "estati");
        await scenario.TextAsync(stranger, $"status {caseNumber} {wrongPin}");
        await scenario.TextAsync(stranger, $"Estado {caseNumber} {wrongPin}");
        await scenario.TextAsync(stranger, $"ESTADO {caseNumber} {wrongPin}");
        await scenario.TextAsync(stranger, $"ESTADO {caseNumber} {pin}");
        await scenario.TextAsync(stranger, "ESTADO");
        await scenario.TextAsync("+8801712345671", $"অবস্থা {ToBengaliDigits(caseNumber)} {ToBengaliDigits(wrongPin)}");

        // Another number than the worker's is answered in the language each text is written in ("status" is English).
        Assert.Equal(
            [
                scenario.Text("es", "status_received"), scenario.Text("en", IvrPromptKeys.SmsStatusWrong), scenario.Text("es", IvrPromptKeys.SmsStatusWrong),
                scenario.Text("es", IvrPromptKeys.SmsStatusLocked), scenario.Text("es", IvrPromptKeys.SmsStatusLocked), scenario.Text("es", IvrPromptKeys.SmsStatusPrompt),
            ],
            (await scenario.RepliesAsync(stranger)).Select(r => r.Body));
        Assert.Equal(scenario.Text("ht", "status_received"), (await scenario.RepliesAsync(worker))[^1].Body);
        // Bengali digits are digits: the case is found, and the answer is in Bengali. The stranger's
        // lock-out is theirs alone: this number still has its tries.
        Assert.Equal(scenario.Text("bn", IvrPromptKeys.SmsStatusWrong), (await scenario.RepliesAsync("+8801712345671")).Single().Body);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'status.locked'"));
        // The PIN is not kept even encrypted in the stored STATUS message, nor in any log.
        var pii = scenario.Factory.Services.GetRequiredService<WsrHotline.Pii.PiiProtector>();
        var statusBodies = (await connection.QueryAsync<string>("SELECT body_encrypted FROM messages WHERE direction = 'inbound' AND purpose = 'command'"))
            .Select(b => pii.Decrypt(b, WsrHotline.Pii.PiiPurpose.MessageBody)).ToList();
        Assert.Contains($"ESTADO {caseNumber} ****", statusBodies);
        Assert.All(statusBodies, b => Assert.DoesNotMatch(@"\s[0-9]{4}$", b));
        AssertNoPii(scenario, worker, $"{caseNumber} {pin}");
    }

    [Fact]
    public async Task After_stop_nothing_is_sent_until_start()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550144";
        await scenario.TextAsync(worker, "Hello, the boss does not pay our overtime hours at the farm.");

        await scenario.TextAsync(worker, "Stop paying us late, please!");
        await scenario.TextAsync(worker, "STOP");
        await scenario.TextAsync(worker, "And he shouted at us again.");
        await scenario.TextAsync(worker, "help");
        await scenario.TextAsync(worker, "Start");
        await scenario.TextAsync(worker, "Thanks");

        Assert.Equal(
            [("case_opened", "pending"), ("received", "pending"), ("stopped", "pending"), ("received", "suppressed"), ("help", "suppressed"), ("started", "pending"), ("received", "pending")],
            (await scenario.RepliesAsync(worker)).Select(r => (r.Purpose, r.Status)));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(["messaging.opted_out", "messaging.opted_in"], await connection.QueryAsync<string>(
            "SELECT kind FROM case_timeline WHERE kind LIKE 'messaging.%' ORDER BY id"));
        // The worker's words after STOP still reach the complaint (the keywords are not complaint text).
        Assert.Equal(4, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM messages WHERE direction = 'inbound' AND complaint_id IS NOT NULL"));
    }

    [Fact]
    public async Task A_retried_webhook_creates_nothing_twice()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550145";

        var sid = await scenario.TextAsync(worker, "Hola, no nos pagan en la finca.");
        await scenario.TextAsync(worker, "Hola, no nos pagan en la finca.", sid: sid);

        Assert.Single(await scenario.RepliesAsync(worker));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal((1, 1, 1), await connection.QuerySingleAsync<(int, int, int)>("""
            SELECT (SELECT count(*)::int FROM messages WHERE direction = 'inbound'), (SELECT count(*)::int FROM complaints),
                   (SELECT count(*)::int FROM conversations)
            """));
    }

    [Fact]
    public async Task Empty_texts_withheld_senders_and_malformed_webhooks_open_nothing()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550146";

        await scenario.TextAsync(worker, "   ");
        await scenario.TextAsync(worker, "Hello, I work at the farm and my boss did not pay me.");
        await scenario.TextAsync(worker, "");
        // (A text to a number the settings do not name is kept: HotlineNumberTests.)
        await scenario.TextAsync("anonymous", "Hola, trabajo en la finca.");
        var missing = await scenario.PostAsync("/twilio/messaging/incoming", ("From", "+15555550148"), ("To", MessagingScenario.SmsNumber), ("Body", "hola"));
        var unsigned = await scenario.Factory.CreateClient().PostAsync(new Uri("/twilio/messaging/incoming", UriKind.Relative),
            new FormUrlEncodedContent([KeyValuePair.Create("MessageSid", "SMx"), KeyValuePair.Create("From", worker)]));

        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
        Assert.Equal(["language_menu", "case_opened", "empty"], (await scenario.RepliesAsync(worker)).Select(r => r.Purpose));
        Assert.Equal(scenario.Text("en", IvrPromptKeys.SmsEmpty), (await scenario.RepliesAsync(worker))[2].Body);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal((3, 1, 1), await connection.QuerySingleAsync<(int, int, int)>("""
            SELECT (SELECT count(*)::int FROM messages WHERE direction = 'inbound'), (SELECT count(*)::int FROM complaints),
                   (SELECT count(*)::int FROM caller_identities)
            """));
        Assert.Contains("[4004]", scenario.Factory.Logs.All, StringComparison.Ordinal);
        AssertNoPii(scenario, "anonymous", "Hola, trabajo");
    }

    internal static (string CaseNumber, string Pin) CaseAndPin(MessagingScenario scenario, string language, string body)
    {
        var template = scenario.Text(language, IvrPromptKeys.SmsCaseOpened, new() { ["case_number"] = "11111111", ["pin"] = "2222" });
        var pattern = "^" + Regex.Escape(template).Replace("11111111", "(?<case>[0-9]{8})", StringComparison.Ordinal).Replace("2222", "(?<pin>[0-9]{4})", StringComparison.Ordinal) + "$";
        var match = Regex.Match(body.Split("\n\n")[^1], pattern);
        Assert.True(match.Success, body);
        return (match.Groups["case"].Value, match.Groups["pin"].Value);
    }

    private static string ToBengaliDigits(string digits) => new([.. digits.Select(d => (char)('\u09E6' + (d - '0')))]);

    internal static void AssertNoPii(MessagingScenario scenario, string number, string words)
    {
        var logs = scenario.Factory.Logs.All;
        Assert.DoesNotContain(number, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(number.TrimStart('+'), logs, StringComparison.Ordinal);
        Assert.DoesNotContain(words, logs, StringComparison.Ordinal);
    }

    [GeneratedRegex("[0-9]{8}.*[0-9]{4}")]
    private static partial Regex PinPattern();
}
