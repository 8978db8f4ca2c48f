using System.Text.Json;
using Dapper;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// Workers text the number they see: the toll-free one on the posters takes SMS like the SMS number,
/// and a text to a number the configuration does not name is stored, answered from that number and
/// flagged for an admin, never dropped.
/// </summary>
public sealed class HotlineNumberTests
{
    private const string TollFreeNumber = "+18005550100";
    private const string UnconfiguredNumber = "+18005550199";

    [Fact]
    public async Task A_text_to_the_toll_free_number_opens_a_case_and_is_answered_from_the_toll_free_number()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550160";

        // Each reply goes from the number the worker last texted: a later text to the SMS number joins the
        // same case and is answered from the SMS number.
        foreach (var (body, to) in new[] { ("Hola, no nos pagan las horas extra en la finca.", TollFreeNumber),
                                           ("Somos doce trabajadores.", MessagingScenario.SmsNumber), ("Y el mayordomo nos grita.", TollFreeNumber) })
        {
            await scenario.TextAsync(worker, body, to: to);
            Assert.Equal(1, await scenario.Sender.SendDueAsync(CancellationToken.None));
        }

        Assert.Equal(1, await ScalarAsync<int>(scenario, "SELECT count(*)::int FROM complaints"));
        Assert.Equal(3, await ScalarAsync<int>(scenario, "SELECT count(*)::int FROM messages WHERE direction = 'inbound' AND complaint_id IS NOT NULL"));
        var sent = scenario.Sent.ToList();
        Assert.Equal([TollFreeNumber, MessagingScenario.SmsNumber, TollFreeNumber], sent.Select(form => form["From"]));
        Assert.Equal("case_opened", (await scenario.RepliesAsync(worker))[0].Purpose);
        // Not flagged: the toll-free number is one of the hotline's.
        Assert.Equal(0, await ScalarAsync<int>(scenario, "SELECT count(*)::int FROM messages WHERE to_unconfigured_number"));
    }

    [Fact]
    public async Task A_text_to_a_number_the_configuration_does_not_name_is_kept_answered_from_it_and_flagged_for_an_admin()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550161";

        await scenario.TextAsync(worker, "Hello, the supervisor took our passports at the farm.", to: UnconfiguredNumber);
        await scenario.TextAsync("+8801712345671", "আমাদের কারখানায় বেতন দেওয়া হয়নি।", to: "whatsapp:" + UnconfiguredNumber);
        while (await scenario.Sender.SendDueAsync(CancellationToken.None) > 0)
        {
        }

        // Stored like any other text: a case, and the case number and PIN told from the number the worker texted.
        var reply = Assert.Single(await scenario.RepliesAsync(worker));
        Assert.Equal("case_opened", reply.Purpose);
        var sent = scenario.Sent.ToList();
        Assert.Equal([(worker, UnconfiguredNumber), ("whatsapp:+8801712345671", "whatsapp:" + UnconfiguredNumber)],
            sent.Select(form => (form["To"], form["From"])));
        Assert.Equal(reply.Body, sent[0]["Body"]);
        Assert.Equal(2, await ScalarAsync<int>(scenario, "SELECT count(*)::int FROM complaints"));

        // Flagged: a timeline entry on each case (without the number), and the count an admin sees on the dashboard.
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var flags = (await connection.QueryAsync<string>(
            "SELECT details::text FROM case_timeline WHERE kind = 'message.unconfigured_number' ORDER BY id")).ToList();
        Assert.Equal(2, flags.Count);
        Assert.All(flags, details => Assert.DoesNotContain("8005550199", details, StringComparison.Ordinal));
        await StaffSession.CreateStaffAsync(scenario.DataSource, "admin@hotline.test", "admin");
        using var admin = await StaffSession.SignInAsync(scenario.Factory, "admin@hotline.test");
        using var dashboard = JsonDocument.Parse(await (await admin.GetAsync("/dashboard/api/unconfigured-numbers")).Content.ReadAsStringAsync());
        Assert.Equal(2, dashboard.RootElement.GetProperty("total").GetInt32());
        Assert.Equal(["whatsapp", "sms"], dashboard.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetProperty("channel").GetString()));
        Assert.All(dashboard.RootElement.GetProperty("texts").EnumerateArray(), t => Assert.NotEqual(JsonValueKind.Null, t.GetProperty("caseNumber").ValueKind));
        Assert.DoesNotContain("8005550199", dashboard.RootElement.GetRawText(), StringComparison.Ordinal);

        // Logged without the number, or the worker's.
        Assert.Contains("none of Hotline:TollFreeNumber", scenario.Factory.Logs.All, StringComparison.Ordinal);
        MessagingIntakeTests.AssertNoPii(scenario, worker, "passports");
        Assert.DoesNotContain("8005550199", scenario.Factory.Logs.All, StringComparison.Ordinal);
    }

    private static async Task<T> ScalarAsync<T>(MessagingScenario scenario, string sql)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return (await connection.ExecuteScalarAsync<T>(sql))!;
    }
}
