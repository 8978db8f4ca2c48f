using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Ivr;
using WsrHotline.Jobs;
using WsrHotline.Messaging;

namespace WsrHotline.Tests.Messaging;

public sealed class MessagingSenderTests
{
    [Fact]
    public async Task Replies_reach_twilio_once_each_from_the_right_number_with_a_status_callback()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        await scenario.TextAsync("+15555550150", "Hola, no nos pagan las horas en la finca.");
        await scenario.TextAsync("+8801712345670", "আমাদের কারখানায় বেতন দেওয়া হয়নি।", to: MessagingScenario.WhatsAppSender);

        Assert.Equal(2, await scenario.Sender.SendDueAsync(CancellationToken.None));
        Assert.Equal(0, await scenario.Sender.SendDueAsync(CancellationToken.None));

        var sent = scenario.Sent.ToList();
        Assert.Equal(2, sent.Count);
        Assert.Equal(("+15555550150", MessagingScenario.SmsNumber), (sent[0]["To"], sent[0]["From"]));
        Assert.Equal(("whatsapp:+8801712345670", MessagingScenario.WhatsAppSender), (sent[1]["To"], sent[1]["From"]));
        Assert.Equal("https://hotline.test/twilio/messaging/status", sent[0]["StatusCallback"]);
        var reply = Assert.Single(await scenario.RepliesAsync("+15555550150"));
        Assert.Equal(reply.Body, sent[0]["Body"]);
        Assert.Equal(("queued", 1), (reply.Status, reply.Attempts));
        Assert.NotNull(reply.MessageSid);
        MessagingIntakeTests.AssertNoPii(scenario, "+15555550150", "no nos pagan");
        MessagingIntakeTests.AssertNoPii(scenario, "+8801712345670", "বেতন");
    }

    [Fact]
    public async Task A_twilio_failure_is_retried_and_gives_up_after_the_last_attempt()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550151";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        // 429: Twilio did not take it, so it may go again.
        scenario.Answer = n => n == 1 ? (429, 20429) : (201, null);

        await scenario.Sender.SendDueAsync(CancellationToken.None);
        Assert.Equal(("pending", 1), (await scenario.RepliesAsync(worker)).Select(r => (r.Status, r.Attempts)).Single());
        await scenario.Sender.SendDueAsync(CancellationToken.None);

        Assert.Single(scenario.Sent);
        Assert.Equal(("queued", 2), (await scenario.RepliesAsync(worker)).Select(r => (r.Status, r.Attempts)).Single());

        // Always refused so: after Messaging:SendMaxAttempts (6) it is failed, on the complaint's timeline.
        scenario.Answer = _ => (429, null);
        await scenario.TextAsync(worker, "He also shouted at us.");
        for (var i = 0; i < 8; i++)
        {
            await scenario.Sender.SendDueAsync(CancellationToken.None);
        }
        var failed = (await scenario.RepliesAsync(worker))[^1];
        Assert.Equal(("failed", 6), (failed.Status, failed.Attempts));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'message.failed'"));
        MessagingIntakeTests.AssertNoPii(scenario, worker, "shouted");
    }

    [Fact]
    public async Task Error_21610_records_the_opt_out_and_nothing_more_is_sent()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550152";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        scenario.Answer = _ => (400, 21610);

        await scenario.Sender.SendDueAsync(CancellationToken.None);
        scenario.Answer = _ => (201, null);
        await scenario.TextAsync(worker, "Are you there?");
        await scenario.Sender.SendDueAsync(CancellationToken.None);

        Assert.Empty(scenario.Sent);
        Assert.Equal([("failed", (int?)21610), ("suppressed", null)], (await scenario.RepliesAsync(worker)).Select(r => (r.Status, r.ErrorCode)));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT opted_out_at IS NOT NULL FROM conversations"));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'messaging.opted_out'"));
        // Twilio's error text quotes the number; it must not reach the logs.
        MessagingIntakeTests.AssertNoPii(scenario, worker, "overtime");
    }

    [Theory]
    [InlineData(500, 20500)]
    [InlineData(503, null)]
    public async Task A_twilio_5xx_may_have_sent_the_reply_so_it_is_failed_and_never_sent_again(int status, int? errorCode)
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: settings => settings["Twilio:MaxAttempts"] = "4");
        const string worker = "+15555550158";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        var requests = 0;
        scenario.Answer = _ => { Interlocked.Increment(ref requests); return (status, errorCode); };

        await scenario.Sender.SendDueAsync(CancellationToken.None);
        await scenario.Sender.SendDueAsync(CancellationToken.None);

        // One POST, not Twilio:MaxAttempts (4) of them: the REST client does not repeat it either.
        Assert.Equal(1, requests);
        var reply = (await scenario.RepliesAsync(worker)).Single();
        Assert.Equal(("failed", 1, errorCode), (reply.Status, reply.Attempts, reply.ErrorCode));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.StartsWith("uncertain:", await connection.ExecuteScalarAsync<string>(
            "SELECT details->>'error' FROM case_timeline WHERE kind = 'message.failed'"), StringComparison.Ordinal);
        MessagingIntakeTests.AssertNoPii(scenario, worker, "overtime");
    }

    [Fact]
    public async Task A_reply_job_stopped_after_twilio_took_the_reply_and_before_it_was_recorded_does_not_send_it_again()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550153";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        var reply = (await scenario.RepliesAsync(worker)).Single();
        var sender = scenario.Factory.Services.GetRequiredService<OutboundSender>();
        // The instance goes away the moment Twilio has taken the reply: the job's token is cancelled
        // before it can record Twilio's answer (the SDK's POST itself takes no token, so it completes).
        using var stopping = new CancellationTokenSource();
        scenario.Answer = _ =>
        {
            stopping.Cancel();
            return (201, null);
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sender.SendAsync(reply.Id, "job-1", stopping.Token));
        Assert.Single(scenario.Sent);
        Assert.Equal("handing_over", (await scenario.RepliesAsync(worker)).Single().Status);

        // Hangfire runs the same job again on a live instance: it finds its own hand-over and fails the reply.
        await Assert.ThrowsAsync<JobGaveUpException>(() => sender.SendAsync(reply.Id, "job-1", CancellationToken.None));

        Assert.Single(scenario.Sent);
        Assert.Equal(("failed", 1), (await scenario.RepliesAsync(worker)).Select(r => (r.Status, r.Attempts)).Single());
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal("interrupted", (await connection.ExecuteScalarAsync<string>(
            "SELECT details->>'error' FROM case_timeline WHERE kind = 'message.failed'"))?.Split(':')[0]);
    }

    [Fact]
    public async Task A_second_job_for_a_reply_another_job_is_handing_over_leaves_it_alone_and_two_jobs_at_once_send_it_once()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550159";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        await scenario.TextAsync(worker, "He also shouted at us.");
        var replies = await scenario.RepliesAsync(worker);
        Assert.True(replies.Count >= 2, $"{replies.Count} replies");
        var sender = scenario.Factory.Services.GetRequiredService<OutboundSender>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        // As a job leaves the first while it waits for Twilio's answer.
        await connection.ExecuteAsync(
            "UPDATE messages SET status = 'handing_over', attempts = 1, handed_over_by = 'job-1' WHERE id = @Id", new { replies[0].Id });

        await sender.SendAsync(replies[0].Id, "job-2", CancellationToken.None);
        await Task.WhenAll(
            sender.SendAsync(replies[^1].Id, "job-3", CancellationToken.None),
            sender.SendAsync(replies[^1].Id, "job-4", CancellationToken.None));

        var sent = Assert.Single(scenario.Sent);
        Assert.Equal(replies[^1].Body, sent["Body"]);
        var stored = await scenario.RepliesAsync(worker);
        Assert.Equal(("handing_over", 1), (stored[0].Status, stored[0].Attempts));
        Assert.Equal(("queued", 1), (stored[^1].Status, stored[^1].Attempts));
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'message.failed'"));
    }

    [Fact]
    public async Task A_whatsapp_reply_outside_the_24_hour_window_is_never_sent_as_free_text()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+8801712345672";
        await scenario.TextAsync(worker, "আমাদের কারখানায় বেতন দেওয়া হয়নি।", to: MessagingScenario.WhatsAppSender);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'");

        await scenario.Sender.SendDueAsync(CancellationToken.None);

        Assert.Empty(scenario.Sent);
        Assert.Equal(("failed", (int?)63016), (await scenario.RepliesAsync(worker)).Select(r => (r.Status, r.ErrorCode)).Single());
        // The reason names the settings to add, on the complaint's timeline.
        Assert.Equal(
            "outside the WhatsApp 24-hour window and no approved template for purpose 'case_opened' in language 'bn' " +
            "(set Messaging:WhatsAppTemplates:case_opened:bn or Messaging:WhatsAppTemplates:default:bn)",
            await connection.ExecuteScalarAsync<string>("SELECT details->>'error' FROM case_timeline WHERE kind = 'message.failed'"));
    }

    private const string BengaliTemplate = "HX0000000000000000000000000000b0b0";
    private const string SpanishTemplate = "HX00000000000000000000000000000e50";
    private const string SpanishReceivedTemplate = "HX000000000000000000000000000e5ec0";

    private static void Templates(Dictionary<string, string?> settings)
    {
        settings["Messaging:WhatsAppTemplates:default:bn:ContentSid"] = BengaliTemplate;
        settings["Messaging:WhatsAppTemplates:default:bn:Variables:1"] = "case_number";
        settings["Messaging:WhatsAppTemplates:default:es:ContentSid"] = SpanishTemplate;
        settings["Messaging:WhatsAppTemplates:default:es:Variables:1"] = "case_number";
        settings["Messaging:WhatsAppTemplates:received:es:ContentSid"] = SpanishReceivedTemplate;
    }

    [Fact]
    public async Task Outside_the_whatsapp_window_a_reply_goes_as_the_template_of_its_language_and_purpose_never_as_free_text()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: Templates);
        const string bengali = "+8801712345673";
        const string spanish = "+15555550155";
        await scenario.TextAsync(bengali, "আমাদের কারখানায় বেতন দেওয়া হয়নি।", to: MessagingScenario.WhatsAppSender);
        await scenario.TextAsync(spanish, "Hola, no nos pagan las horas en la finca.", to: MessagingScenario.WhatsAppSender);
        await scenario.TextAsync(spanish, "También el mayordomo nos grita.", to: MessagingScenario.WhatsAppSender);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'");

        Assert.Equal(3, await scenario.Sender.SendDueAsync(CancellationToken.None));

        var sent = scenario.Sent.ToList();
        Assert.Equal(3, sent.Count);
        Assert.All(sent, form => Assert.False(form.ContainsKey("Body"), "free text went out of the window"));
        var cases = (await connection.QueryAsync<string>("SELECT case_number FROM complaints ORDER BY id")).ToList();
        // The Bengali and the Spanish welcome: each language's default template, with its case number.
        Assert.Equal((BengaliTemplate, $$"""{"1":"{{cases[0]}}"}"""), (sent[0]["ContentSid"], sent[0]["ContentVariables"]));
        Assert.Equal((SpanishTemplate, $$"""{"1":"{{cases[1]}}"}"""), (sent[1]["ContentSid"], sent[1]["ContentVariables"]));
        // "received" has a Spanish template of its own, without variables.
        Assert.Equal(SpanishReceivedTemplate, sent[2]["ContentSid"]);
        Assert.False(sent[2].ContainsKey("ContentVariables"));
        Assert.Equal([BengaliTemplate, SpanishTemplate, SpanishReceivedTemplate],
            await connection.QueryAsync<string>("SELECT content_sid FROM messages WHERE direction = 'outbound' ORDER BY id"));
        Assert.Equal(["Messaging:WhatsAppTemplates:default:bn", "Messaging:WhatsAppTemplates:default:es", "Messaging:WhatsAppTemplates:received:es"],
            await connection.QueryAsync<string>("SELECT details->>'template' FROM case_timeline WHERE kind = 'message.template' ORDER BY id"));

        // Inside the window the same worker gets free text again.
        await scenario.TextAsync(spanish, "¿Me pueden llamar?", to: MessagingScenario.WhatsAppSender);
        await scenario.Sender.SendDueAsync(CancellationToken.None);
        var inside = scenario.Sent.ToList()[^1];
        Assert.Equal(scenario.Text("es", IvrPromptKeys.SmsReceived), inside["Body"]);
        Assert.False(inside.ContainsKey("ContentSid"));
    }

    [Fact]
    public async Task Outside_the_window_a_language_without_a_template_fails_visibly_and_sms_is_never_affected()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: Templates);
        const string haitian = "+15555550156";
        const string sms = "+15555550157";
        await scenario.TextAsync(haitian, "Bonjou, patwon an pa peye nou lajan nou pou travay semèn pase a.", to: MessagingScenario.WhatsAppSender);
        await scenario.TextAsync(sms, "Bonjou, patwon an pa peye nou lajan nou pou travay semèn pase a.");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'");

        await scenario.Sender.SendDueAsync(CancellationToken.None);

        // The SMS reply goes as text (the window is WhatsApp's); the WhatsApp one fails, on the timeline.
        var sent = Assert.Single(scenario.Sent);
        Assert.Equal(sms, sent["To"]);
        Assert.Equal(("failed", (int?)63016), (await scenario.RepliesAsync(haitian)).Select(r => (r.Status, r.ErrorCode)).Single());
        Assert.Contains("Messaging:WhatsAppTemplates:default:ht",
            await connection.ExecuteScalarAsync<string>("SELECT details->>'error' FROM case_timeline WHERE kind = 'message.failed'"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delivery_reports_update_the_reply_and_never_go_backwards()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550154";
        await scenario.TextAsync(worker, "Hello, my boss did not pay my overtime hours.");
        await scenario.Sender.SendDueAsync(CancellationToken.None);
        var sid = (await scenario.RepliesAsync(worker)).Single().MessageSid!;

        foreach (var status in new[] { "sent", "delivered", "sent", "queued", "delivered" })
        {
            var response = await scenario.PostAsync("/twilio/messaging/status", ("MessageSid", sid), ("MessageStatus", status), ("To", worker));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var unknown = await scenario.PostAsync("/twilio/messaging/status", ("MessageSid", "SMnever"), ("MessageStatus", "delivered"));
        Assert.Equal(HttpStatusCode.OK, unknown.StatusCode);

        Assert.Equal("delivered", (await scenario.RepliesAsync(worker)).Single().Status);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(["sent", "delivered"], await connection.QueryAsync<string>(
            "SELECT details->>'status' FROM case_timeline WHERE kind = 'message.delivery' ORDER BY id"));

        // An undelivered report with 21610: the worker opted out with the carrier.
        await scenario.TextAsync(worker, "More news.");
        await scenario.Sender.SendDueAsync(CancellationToken.None);
        var second = (await scenario.RepliesAsync(worker))[^1].MessageSid!;
        await scenario.PostAsync("/twilio/messaging/status", ("MessageSid", second), ("MessageStatus", "undelivered"), ("ErrorCode", "21610"));
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT opted_out_at IS NOT NULL FROM conversations"));
        MessagingIntakeTests.AssertNoPii(scenario, worker, "overtime");
    }
}
