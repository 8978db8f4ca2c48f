using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Twilio.TwiML;
using WsrHotline.Ivr;
using WsrHotline.Messaging;
using WsrHotline.Simulator;
using WsrHotline.Tests.Hosting;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Messaging;
using WsrHotline.Tests.Voice;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Simulator;

/// <summary>
/// Texting end to end over real HTTP: the simulator's phones text the real app's messaging webhook,
/// the app's sender calls the Messages stand-in, and delivery reports come back signed.
/// The background sender is off: tests send with SendDueAsync, then release the reports.
/// </summary>
public sealed partial class SimulatedTextingTests
{
    private static Task<VoiceScenario> StartAsync() =>
        VoiceScenario.StartAsync(s => s["Messaging:SenderEnabled"] = "false");

    private static DueReplies Sender(VoiceScenario scenario) => new(scenario.Hotline.Factory.Services);

    [Fact]
    public async Task A_spanish_text_opens_a_case_and_the_phone_receives_the_case_number_and_pin_delivered()
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550160";
        const string words = "no nos pagan las horas extra";

        var answer = await scenario.Simulator.TextAsync(worker, $"Hola, en la finca {words} y el patrón nos grita.");
        await InboxWait.DrainedAsync(scenario.DataSource);

        Assert.Equal(200, answer.HttpStatus);
        Assert.Equal(TwimlWriter.ToXml(new MessagingResponse()), answer.Body);
        Assert.Equal(1, await Sender(scenario).SendDueAsync(CancellationToken.None));
        await scenario.Simulator.DeliverTextsAsync();

        var inbox = scenario.Simulator.Inbox(worker);
        Assert.Equal([true, false], inbox.Texts.Select(t => t.FromPhone));
        var reply = inbox.Received.Single();
        Assert.StartsWith(scenario.Flow.RenderText("es", IvrPromptKeys.SmsWelcome, null), reply.Body, StringComparison.Ordinal);
        var caseNumber = CaseNumber().Match(reply.Body).Value;
        Assert.NotEmpty(caseNumber);
        Assert.Equal(("delivered", (int?)null), (reply.Status, reply.ErrorCode));

        var row = await OnlyReplyAsync(scenario);
        Assert.Equal((reply.Sid, "delivered", (int?)null), row);
        Assert.Equal("es", await scenario.ScalarAsync<string>("SELECT language_code FROM complaints WHERE case_number = @caseNumber", new { caseNumber }));
        Assert.Equal(2, await scenario.ScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'message.delivery'"));
        AssertNoPii(scenario, worker, words);
    }

    [Fact]
    public async Task A_whatsapp_text_with_a_photo_is_answered_on_whatsapp_and_the_photo_can_be_fetched()
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550161";
        byte[] photo = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];

        var answer = await scenario.Simulator.TextAsync(worker, "Hello, my boss did not pay my overtime hours.", TextChannels.WhatsApp,
            textMedia: [new TextMedia("image/jpeg", photo)]);
        await InboxWait.DrainedAsync(scenario.DataSource);

        Assert.Equal(200, answer.HttpStatus);
        Assert.Equal(1, await Sender(scenario).SendDueAsync(CancellationToken.None));
        await scenario.Simulator.DeliverTextsAsync();
        Assert.Equal("delivered", Assert.Single(scenario.Simulator.Inbox(worker, TextChannels.WhatsApp).Received).Status);
        Assert.Empty(scenario.Simulator.Inbox(worker).Texts);
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM messages WHERE channel = 'whatsapp' AND status = 'delivered'"));

        // The MediaUrl the app got serves the photo, as Twilio's media URLs do: to the account's credentials only.
        var sent = Assert.Single(Assert.Single(scenario.Simulator.TextThreads).Texts, t => t.FromPhone);
        var mediaUrl = Assert.Single(sent.MediaUrls);
        Assert.Equal($"/simulator/twilio/2010-04-01/Accounts/{TestKeys.TwilioAccountSid}/Messages/{sent.Sid}/Media/", mediaUrl.AbsolutePath[..^34]);
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(mediaUrl)).StatusCode);
        var media = await scenario.Hotline.Factory.Services.GetRequiredService<TwilioMediaDownloader>().DownloadAsync(mediaUrl);
        Assert.Equal("image/jpeg", media.ContentType);
        Assert.Equal(photo, media.Content.ToArray());
        AssertNoPii(scenario, worker, "overtime");
    }

    [Theory]
    [InlineData("undelivered", 30003)]
    [InlineData("failed", 30008)]
    public async Task A_number_set_to_fail_reports_it_with_the_error_code_on_the_message_row(string outcome, int errorCode)
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550162";
        scenario.Simulator.SetTextDelivery(worker, outcome == "failed" ? TextDelivery.Failed(errorCode) : TextDelivery.Undelivered(errorCode));

        await scenario.Simulator.TextAsync(worker, "Hola, no nos pagan en la finca.");
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(1, await Sender(scenario).SendDueAsync(CancellationToken.None));
        await scenario.Simulator.DeliverTextsAsync();

        var reply = Assert.Single(scenario.Simulator.Inbox(worker).Received);
        Assert.Equal((outcome, (int?)errorCode), (reply.Status, reply.ErrorCode));
        Assert.Equal((reply.Sid, outcome, (int?)errorCode), await OnlyReplyAsync(scenario));
    }

    [Fact]
    public async Task An_opted_out_number_is_refused_with_21610_and_the_app_records_the_opt_out()
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550163";
        scenario.Simulator.SetTextDelivery(worker, TextDelivery.OptedOut);

        await scenario.Simulator.TextAsync(worker, "Hola, no nos pagan en la finca.");
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(1, await Sender(scenario).SendDueAsync(CancellationToken.None));
        await scenario.Simulator.DeliverTextsAsync();

        Assert.Empty(scenario.Simulator.Inbox(worker).Received);
        var (_, status, errorCode) = await OnlyReplyAsync(scenario);
        Assert.Equal(("failed", (int?)TwilioErrorCodes.RecipientOptedOut), (status, errorCode));
        Assert.True(await scenario.ScalarAsync<bool>("SELECT opted_out_at IS NOT NULL FROM conversations"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'messaging.opted_out'"));
        // Twilio's error text quotes the number: it must not reach the logs.
        AssertNoPii(scenario, worker, "no nos pagan");
    }

    [Fact]
    public async Task Outside_the_whatsapp_window_the_phone_shows_the_template_of_the_workers_language()
    {
        const string template = "HX0000000000000000000000000000b0b0";
        await using var scenario = await VoiceScenario.StartAsync(s =>
        {
            s["Messaging:WhatsAppTemplates:default:bn:ContentSid"] = template;
            s["Messaging:WhatsAppTemplates:default:bn:Variables:1"] = "case_number";
        });
        const string worker = "+8801712345674";
        await scenario.Simulator.TextAsync(worker, "আমাদের কারখানায় তিন মাস ধরে বেতন দেওয়া হয়নি।", TextChannels.WhatsApp);
        await InboxWait.DrainedAsync(scenario.DataSource);
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'");
        }

        Assert.Equal(1, await Sender(scenario).SendDueAsync(CancellationToken.None));
        await scenario.Simulator.DeliverTextsAsync();

        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints");
        var shown = Assert.Single(scenario.Simulator.Inbox(worker, TextChannels.WhatsApp).Received);
        Assert.Equal((template, $$"""{"1":"{{caseNumber}}"}""", "delivered"), (shown.ContentSid, shown.ContentVariables, shown.Status));
        Assert.Equal($$"""[template {{template}}] {"1":"{{caseNumber}}"}""", shown.Body);
        Assert.Equal($"delivered {template}", await scenario.ScalarAsync<string>(
            "SELECT status || ' ' || content_sid FROM messages WHERE direction = 'outbound'"));
    }

    [Fact]
    public async Task The_messages_stand_in_refuses_a_malformed_template_like_twilio()
    {
        await using var scenario = await StartAsync();
        using var client = scenario.Hotline.CreateClient();
        async Task<int?> CodeAsync(params (string, string)[] fields)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post,
                new Uri($"/simulator/twilio/2010-04-01/Accounts/{TestKeys.TwilioAccountSid}/Messages.json", UriKind.Relative))
            {
                Content = new FormUrlEncodedContent([new("To", "whatsapp:+15555550166"), new("From", "whatsapp:+18005550102"),
                    .. fields.Select(f => KeyValuePair.Create(f.Item1, f.Item2))]),
            };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{TestKeys.TwilioAccountSid}:{TestKeys.TwilioAuthToken}")));
            var response = await client.SendAsync(request);
            return response.IsSuccessStatusCode ? null : (await response.Content.ReadFromJsonAsync<JsonNode>())!["code"]!.GetValue<int>();
        }

        Assert.Equal(21654, await CodeAsync(("Body", "x"), ("ContentVariables", "{}")));
        Assert.Equal(21655, await CodeAsync(("ContentSid", "HXnot-a-sid")));
        Assert.Equal(21656, await CodeAsync(("ContentSid", "HX0000000000000000000000000000b0b0"), ("ContentVariables", "[1]")));
        Assert.Null(await CodeAsync(("ContentSid", "HX0000000000000000000000000000b0b0"), ("ContentVariables", """{"1":"x"}""")));
    }

    [Fact]
    public async Task The_messages_stand_in_checks_basic_auth_like_twilio()
    {
        await using var scenario = await StartAsync();
        using var client = scenario.Hotline.CreateClient();
        using var content = new FormUrlEncodedContent([new("To", "+15555550164"), new("From", "+18005550101"), new("Body", "Hi")]);

        var response = await client.PostAsync(new Uri("/simulator/twilio/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Empty(scenario.Simulator.TextThreads);
    }

    [Fact]
    public async Task In_the_local_run_settings_a_text_from_the_page_gets_its_reply_delivered_by_the_background_sender()
    {
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var keyFile = Path.Combine(Path.GetTempPath(), $"wsr-dev-keys-{Guid.NewGuid():N}.json");
        var development = JsonNode.Parse(await File.ReadAllTextAsync(DevelopmentSettingsFile()))!["Twilio"]!;
        try
        {
            await using var hotline = SimulatedHotline.Start(PostgresServer.ConnectionStringFor(database), (settings, port) =>
            {
                // appsettings.Development.json as it is (its own Twilio account and numbers, the background
                // sender on), with its port 5080 swapped for the test's.
                foreach (var key in new[] { "Twilio:AccountSid", "Twilio:AuthToken", "Pii:ActiveKeyId", $"Pii:Keys:{TestKeys.PiiKeyId}", "Pii:LookupKey" })
                {
                    settings.Remove(key);
                }

                settings["Twilio:ApiBaseUrl"] = development["ApiBaseUrl"]!.GetValue<string>().Replace(":5080/", $":{port}/", StringComparison.Ordinal);
                settings["Twilio:PublicBaseUrl"] = development["PublicBaseUrl"]!.GetValue<string>().Replace(":5080", $":{port}", StringComparison.Ordinal);
                settings["Pii:DevelopmentKeyFile"] = keyFile;
                settings["Demo:SeedOnStart"] = "false";
                // The local run's Hangfire server, which sends the replies and fetches the photos.
                settings["Jobs:Enabled"] = "true";
            }, "Development");
            using var client = hotline.CreateClient();
            Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);
            const string worker = "+15555550165";

            // As the page does it: the texting panel's JSON API, with a sample photo.
            var sent = await client.PostAsJsonAsync("/simulator/api/texts",
                new { from = worker, channel = "whatsapp", body = "Hola, no nos pagan en la finca.", attachment = "photo" });
            Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
            var thread = (await sent.Content.ReadFromJsonAsync<JsonNode>())!["texts"]![0]!;
            Assert.Equal(("whatsapp", "received"), (thread["channel"]!.GetValue<string>(), thread["texts"]![0]!["status"]!.GetValue<string>()));

            // The reply's job sends it within a second or so; its delivery report follows a second later.
            var inbox = hotline.Simulator.Inbox(worker, TextChannels.WhatsApp);
            await using var connection = new Npgsql.NpgsqlConnection(PostgresServer.ConnectionStringFor(database));
            // The reply, its report and the photo, all within 30 s of the text.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            await Eventually.TrueAsync(async () => await connection.ExecuteScalarAsync<string?>("SELECT status FROM messages WHERE direction = 'outbound'") == "delivered",
                "the reply sent and its delivery report stored", deadline - DateTime.UtcNow, TimeSpan.FromMilliseconds(200));

            Assert.Equal("delivered", await connection.ExecuteScalarAsync<string?>("SELECT status FROM messages WHERE direction = 'outbound'"));
            // The download's job has the photo from the stand-in, with the local run's credentials.
            await Eventually.TrueAsync(async () => await connection.ExecuteScalarAsync<string?>("SELECT status FROM message_media") == "stored",
                "the photo downloaded and stored", deadline - DateTime.UtcNow, TimeSpan.FromMilliseconds(200));

            Assert.Equal(("stored", 2_000L), await connection.QuerySingleAsync<(string, long)>("SELECT status, size_bytes FROM message_media"));
            Assert.Equal("delivered", Assert.Single(inbox.Received).Status);
            var state = await client.GetFromJsonAsync<JsonNode>("/simulator/api/state");
            Assert.Equal(["received", "delivered"], state!["texts"]![0]!["texts"]!.AsArray().Select(t => t!["status"]!.GetValue<string>()));

            var optOut = await client.PutAsJsonAsync($"/simulator/api/texts/{Uri.EscapeDataString(worker)}", new { outcome = "opted-out" });
            Assert.Equal("opted-out", (await optOut.Content.ReadFromJsonAsync<JsonNode>())!["texts"]![0]!["delivery"]!.GetValue<string>());
        }
        finally
        {
            File.Delete(keyFile);
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    private static string DevelopmentSettingsFile()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "src", "WsrHotline", "appsettings.Development.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("src/WsrHotline/appsettings.Development.json was not found above the test's directory.");
    }

    private static async Task<(string? Sid, string Status, int? ErrorCode)> OnlyReplyAsync(VoiceScenario scenario)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<(string?, string, int?)>(
            "SELECT message_sid, status, error_code FROM messages WHERE direction = 'outbound'");
    }

    private static void AssertNoPii(VoiceScenario scenario, string number, string words)
    {
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.DoesNotContain(number.TrimStart('+'), logs, StringComparison.Ordinal);
        Assert.DoesNotContain(words, logs, StringComparison.Ordinal);
    }

    [GeneratedRegex("(?<![0-9])[0-9]{8}(?![0-9])")]
    private static partial Regex CaseNumber();
}
