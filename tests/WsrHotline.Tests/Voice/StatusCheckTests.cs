using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Pii;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// Case number + PIN checks by phone and by text, end to end through the simulator: tries are
/// counted per case and per caller, so a stranger who knows a case number locks out only themselves.
/// </summary>
public sealed class StatusCheckTests
{
    private const string Worker = "+15555550123";
    private const string Stranger = "+15555550987";
    private const string OtherStranger = "+15555550988";

    [Fact]
    public async Task A_stranger_who_knows_the_case_number_locks_out_only_themselves_by_text_and_by_phone()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Messaging:SenderEnabled"] = "false");
        var opened = await OpenWorkersCaseAsync(scenario, Worker, "es");
        var wrong = opened.Pin == "1111" ? "2222" : "1111";

        // Three wrong PINs by text from another number: that number is locked out, by text and by phone.
        for (var i = 0; i < PinChecks.MaxAttempts; i++)
        {
            await TextAsync(scenario, Stranger, $"ESTADO {opened.CaseNumber} {wrong}");
        }
        await TextAsync(scenario, Stranger, $"ESTADO {opened.CaseNumber} {opened.Pin}");
        Assert.Equal(
            [
                scenario.Flow.RenderText("es", IvrPromptKeys.SmsStatusWrong), scenario.Flow.RenderText("es", IvrPromptKeys.SmsStatusWrong),
                scenario.Flow.RenderText("es", IvrPromptKeys.SmsStatusLocked), scenario.Flow.RenderText("es", IvrPromptKeys.SmsStatusLocked),
            ],
            await RepliesAsync(scenario, Stranger));
        var strangerCall = await CheckByPhoneAsync(scenario, Stranger, opened.CaseNumber, opened.Pin);
        Assert.Contains(scenario.Text("es", "status_locked"), strangerCall.Heard);
        Assert.DoesNotContain(scenario.Text("es", "status_investigating"), strangerCall.Heard);

        // The worker's own phone still has all its tries: one wrong, then the right PIN tells the status.
        var workerCall = await CheckByPhoneAsync(scenario, Worker, opened.CaseNumber, wrong, opened.Pin);
        Assert.Contains(scenario.Text("es", "status_wrong_pin"), workerCall.Heard);
        Assert.Contains(scenario.Text("es", "status_investigating"), workerCall.Heard);
        Assert.DoesNotContain(scenario.Text("es", "status_locked"), workerCall.Heard);

        // Three wrong PINs by phone from a third number: the worker's texts still get the status.
        var otherCall = await CheckByPhoneAsync(scenario, OtherStranger, opened.CaseNumber, wrong, wrong, wrong);
        Assert.Contains(scenario.Text("es", "status_locked"), otherCall.Heard);
        await TextAsync(scenario, Worker, $"ESTADO {opened.CaseNumber} {opened.Pin}");
        Assert.Equal(scenario.Flow.RenderText("es", IvrPromptKeys.ForStatus("investigating")), (await RepliesAsync(scenario, Worker))[^1]);

        var timeline = await scenario.TimelineAsync(opened.Id);
        Assert.Equal(2, timeline.Count(kind => kind == "status.locked"));
        Assert.Equal(2, timeline.Count(kind => kind == "status.checked"));
        // Tries are kept by the keyed hash of the number (as caller identities are found), never the number.
        var pii = scenario.Hotline.Factory.Services.GetRequiredService<PiiProtector>();
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            var callers = (await connection.QueryAsync<byte[]>("SELECT caller_lookup FROM pin_check_tries WHERE failed_attempts > 0 OR locked_until IS NOT NULL")).ToList();
            Assert.Equal(2, callers.Count);
            Assert.Contains(callers, c => c.SequenceEqual(pii.LookupHash(Stranger, PiiPurpose.CallerPhone)));
            Assert.Contains(callers, c => c.SequenceEqual(pii.LookupHash(OtherStranger, PiiPurpose.CallerPhone)));
        }
        foreach (var number in new[] { Worker, Stranger, OtherStranger })
        {
            Assert.DoesNotContain(number, scenario.Hotline.Factory.Logs.All, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("+15555550991", "ESTADO {0} {1}", "es")]
    [InlineData("+15555550992", "Estati {0} {1}", "ht")]
    [InlineData("+15555550993", "অবস্থা {0} {1}", "bn")]
    [InlineData("+15555550994", "STATUS {0} {1}", "en")]
    // A Latin STATUS with Bengali digits, as a Bengali keyboard types them, is a Bengali text.
    [InlineData("+15555550995", "STATUS {0} {1}", "bn")]
    public async Task A_wrong_pin_from_an_unknown_number_is_answered_in_the_language_of_the_text(string stranger, string template, string language)
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Messaging:SenderEnabled"] = "false");
        // The case is in another language than the text, so the reply cannot borrow it.
        var opened = await OpenWorkersCaseAsync(scenario, Worker, language == "ht" ? "es" : "ht");
        var wrong = opened.Pin == "1111" ? "2222" : "1111";
        var bengaliDigits = language == "bn";

        await TextAsync(scenario, stranger, string.Format(System.Globalization.CultureInfo.InvariantCulture, template,
            bengaliDigits ? Bengali(opened.CaseNumber) : opened.CaseNumber, bengaliDigits ? Bengali(wrong) : wrong));

        Assert.Equal([scenario.Flow.RenderText(language, IvrPromptKeys.SmsStatusWrong)], await RepliesAsync(scenario, stranger));
    }

    [Fact]
    public async Task Hanging_up_at_the_main_menu_after_hearing_the_status_owes_no_callback()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var opened = await OpenWorkersCaseAsync(scenario, Worker, "es");

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("2");
        await call.PressAsync(opened.CaseNumber + "#");
        await call.PressAsync(opened.Pin + "#");
        Assert.Contains(scenario.Text("es", "status_investigating"), call.Heard);
        // Back at the main menu the worker says nothing (the menu asks again), then hangs up.
        await call.StaySilentAsync();
        Assert.Contains(scenario.Text("es", "invalid_input"), call.Heard);
        Assert.Equal("main_menu", await scenario.ScalarAsync<string>("SELECT stage FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        await call.HangUpAsync();

        Assert.Equal("completed", await scenario.ScalarAsync<string>("SELECT status FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM callback_tasks"));
        var timeline = await scenario.TimelineAsync(opened.Id);
        Assert.Contains("call.ended", timeline);
        Assert.DoesNotContain("call.abandoned", timeline);

        // Without a status told, the same hang-up is an abandoned call: the worker is owed a callback.
        var other = await scenario.Simulator.CallAsync(from: Stranger);
        await other.PressAsync("2");
        await other.StaySilentAsync();
        await other.HangUpAsync();
        Assert.Equal("abandoned_menu", await scenario.ScalarAsync<string>(
            "SELECT t.reason FROM callback_tasks t JOIN calls c ON c.id = t.call_id WHERE c.call_sid = @Sid", new { other.Sid }));
    }

    private static string Bengali(string digits) => new([.. digits.Select(d => (char)('\u09E6' + (d - '0')))]);

    /// <summary>The worker's case, opened from their number, being investigated.</summary>
    internal static async Task<OpenedComplaint> OpenWorkersCaseAsync(VoiceScenario scenario, string worker, string language)
    {
        var identities = scenario.Hotline.Factory.Services.GetRequiredService<CallerIdentities>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var identity = await identities.FindOrCreateAsync(connection, transaction, worker, language, CancellationToken.None);
        var opened = await Complaints.OpenAsync(connection, transaction, Channels.Sms, language, identity, CancellationToken.None);
        await connection.ExecuteAsync("UPDATE complaints SET status = 'investigating', pin_told_at = now() WHERE id = @Id", opened, transaction);
        await transaction.CommitAsync();
        return opened;
    }

    /// <summary>Calls in Spanish, asks for the status, keys the case number then each PIN, each ended by #.</summary>
    internal static async Task<SimulatedCall> CheckByPhoneAsync(VoiceScenario scenario, string from, string caseNumber, params string[] pins)
    {
        var call = await scenario.Simulator.CallAsync(from: from);
        await call.PressAsync("2");
        await call.PressAsync("2");
        await call.PressAsync(caseNumber + "#");
        foreach (var pin in pins)
        {
            if (call.State == CallState.WaitingForDigits)
            {
                await call.PressAsync(pin + "#");
            }
        }
        if (call.State != CallState.Completed)
        {
            await call.HangUpAsync();
        }
        Assert.Empty(call.Errors);
        return call;
    }

    internal static async Task TextAsync(VoiceScenario scenario, string from, string body)
    {
        var sent = await scenario.Simulator.TextAsync(from, body);
        Assert.Equal(200, sent.HttpStatus);
        await InboxWait.DrainedAsync(scenario.DataSource);
    }

    /// <summary>The texts queued to a number, oldest first, decrypted.</summary>
    internal static async Task<List<string>> RepliesAsync(VoiceScenario scenario, string to)
    {
        var pii = scenario.Hotline.Factory.Services.GetRequiredService<PiiProtector>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var bodies = await connection.QueryAsync<string>("""
            SELECT m.body_encrypted FROM messages m JOIN caller_identities ci ON ci.id = m.caller_identity_id
            WHERE m.direction = 'outbound' AND ci.phone_lookup = @lookup ORDER BY m.id
            """, new { lookup = pii.LookupHash(to, PiiPurpose.CallerPhone) });
        return [.. bodies.Select(body => pii.Decrypt(body, PiiPurpose.MessageBody))];
    }
}
