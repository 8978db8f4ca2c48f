using Dapper;
using WsrHotline.Intake;
using WsrHotline.Simulator;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// A worker calls the toll-free number: end to end through the call simulator (signed webhooks,
/// TwiML followed like Twilio follows it, the REST stand-in ringing investigators' phones) against
/// the real app and a real database.
/// </summary>
public sealed class VoiceIntakeTests
{
    private const string Worker = "+15555550123";

    public static TheoryData<string, string> Languages => new()
    {
        { "1", "en" },
        { "2", "es" },
        { "3", "ht" },
        { "4", "bn" },
    };

    [Theory]
    [MemberData(nameof(Languages))]
    public async Task A_call_in_each_language_reaches_a_tier_one_investigator_who_speaks_it(string digit, string language)
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var phones = new Dictionary<string, string> { ["en"] = "+15555550201", ["es"] = "+15555550202", ["ht"] = "+15555550203", ["bn"] = "+15555550204" };
        var staff = new Dictionary<string, int>();
        foreach (var (code, phone) in phones)
        {
            staff[code] = await scenario.OnCallAsync(code, 1, phone);
            scenario.Simulator.Phone(phone).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 4);
        }

        var call = await scenario.Simulator.CallAsync(from: Worker);
        // The language menu speaks every language in its own voice (Haitian Creole from recordings).
        Assert.Contains(scenario.Text("es", "language_option"), call.Heard);
        Assert.Contains(scenario.Text("bn", "language_option"), call.Heard);
        Assert.Contains(call.Heard, heard => heard.Contains("/ivr-audio/ht/", StringComparison.Ordinal));

        await call.PressAsync(digit);
        AssertHeardInLanguage(scenario, call, language, "confidentiality_notice");
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript) + "\nLOGS:\n" + scenario.Hotline.Factory.Logs.All);
        var investigator = scenario.Simulator.Phone(phones[language]);
        Assert.Single(investigator.Calls);
        Assert.All(phones.Where(p => p.Key != language), other => Assert.Empty(scenario.Simulator.Phone(other.Value).Calls));
        AssertHeardInLanguage(scenario, investigator.Calls[0], language, "screening");
        Assert.Equal(staff[language], await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));

        await investigator.HangUpAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });
        if (language != "ht")
        {
            Assert.Contains(scenario.Text(language, "case_number_readout", new Dictionary<string, string> { ["case_number"] = caseNumber }), call.Heard);
        }
        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal(language, await scenario.ScalarAsync<string>("SELECT language_code FROM complaints WHERE id = @complaint", new { complaint }));
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Equal(["complaint.opened", "clocks.opened", "call.received", "call.routing", "call.rung", "call.answered"], timeline.Take(6));
        Assert.Contains("case_number.told", timeline);
        Assert.Empty(call.Errors);
    }

    [Fact]
    public async Task Nobody_answers_tier_one_then_tier_two_then_voicemail_gives_a_case_number_pin_and_a_callback_clock()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.OnCallAsync("es", 1, "+15555550301");
        await scenario.OnCallAsync("es", 2, "+15555550302");
        scenario.Simulator.Phone("+15555550301").Behavior = PhoneBehavior.NoAnswer;
        scenario.Simulator.Phone("+15555550302").Behavior = PhoneBehavior.Busy;

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(90));

        // While phones rang the caller heard hold messages in Spanish, then the voicemail offer.
        Assert.Contains(scenario.Text("es", "hold_message"), call.Heard);
        Assert.Equal(CallState.Recording, call.State);
        Assert.Contains(scenario.Text("es", "voicemail_offer"), call.Heard);
        Assert.Single(scenario.Simulator.Phone("+15555550301").Calls);
        Assert.Single(scenario.Simulator.Phone("+15555550302").Calls);

        await call.RecordAsync(TimeSpan.FromSeconds(25));
        await call.WaitAsync(TimeSpan.FromSeconds(60));

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaint = await connection.QuerySingleAsync<(long Id, string CaseNumber, string PinHash, string Status, string Channel)>(
            "SELECT c.id, c.case_number, c.pin_hash, c.status, c.channel FROM complaints c JOIN calls ON calls.complaint_id = c.id WHERE calls.call_sid = @Sid", new { call.Sid });
        Assert.Equal(("received", "voice"), (complaint.Status, complaint.Channel));
        Assert.Contains(scenario.Text("es", "case_number_readout", new Dictionary<string, string> { ["case_number"] = complaint.CaseNumber }), call.Heard);
        var pinTemplate = scenario.Text("es", "pin_readout", new Dictionary<string, string> { ["pin"] = "0000" });
        var pinPrefix = pinTemplate[..pinTemplate.IndexOf('0', StringComparison.Ordinal)];
        var pinLine = call.Heard.Single(line => line.StartsWith(pinPrefix, StringComparison.Ordinal));
        var pin = new string(pinLine.Where(char.IsAsciiDigit).ToArray());
        Assert.True(Pins.Verify(pin, complaint.PinHash), "the PIN the worker heard opens their case");

        var callback = await connection.QuerySingleAsync<(string Reason, DateTime DueAt)>(
            "SELECT reason, due_at FROM callback_tasks WHERE complaint_id = @Id", new { complaint.Id });
        Assert.Equal("voicemail", callback.Reason);
        Assert.InRange(callback.DueAt, DateTime.UtcNow.AddMinutes(25), DateTime.UtcNow.AddMinutes(31));
        var recording = await connection.QuerySingleAsync<(string Sid, string Encrypted)>(
            "SELECT recording_sid, recording_url_encrypted FROM calls WHERE call_sid = @Sid", new { call.Sid });
        Assert.StartsWith("RE", recording.Sid, StringComparison.Ordinal);
        Assert.DoesNotContain("http", recording.Encrypted, StringComparison.Ordinal);

        var timeline = await scenario.TimelineAsync(complaint.Id);
        Assert.Equal(2, timeline.Count(kind => kind == "call.rung"));
        Assert.Contains("call.no_answer", timeline);
        Assert.Contains("voicemail.left", timeline);
        Assert.Contains("callback.owed", timeline);
        Assert.Equal(2, timeline.Count(kind => kind == "call.leg_ended"));
        Assert.Empty(call.Errors);
    }

    [Fact]
    public async Task An_investigator_who_refuses_or_hangs_up_during_screening_passes_the_call_to_the_next_tier_at_once()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.OnCallAsync("bn", 1, "+15555550401");
        await scenario.OnCallAsync("bn", 1, "+15555550402");
        var tierTwo = await scenario.OnCallAsync("bn", 2, "+15555550403");
        // One presses 2, the other's personal voicemail "answers" and presses nothing.
        scenario.Simulator.Phone("+15555550401").Behavior = PhoneBehavior.Answer(pressDigits: "2", afterSeconds: 2);
        scenario.Simulator.Phone("+15555550402").Behavior = PhoneBehavior.AnswerThenHangUp(afterSeconds: 1);
        scenario.Simulator.Phone("+15555550403").Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("4");
        await call.PressAsync("1");
        var queued = scenario.Simulator.Now;
        await call.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        // Tier 2 rang before tier 1's 20 seconds were up: nobody in tier 1 would take the call.
        var tierTwoRang = scenario.Simulator.Phone("+15555550403").Calls.Single().Transcript[0].At;
        Assert.True(tierTwoRang - queued < TimeSpan.FromSeconds(20), $"tier 2 rang {tierTwoRang - queued} after the caller queued");
        Assert.Equal(tierTwo, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        Assert.Contains("call.declined", await scenario.TimelineAsync(complaint));
    }

    [Fact]
    public async Task Two_investigators_accepting_together_one_wins_the_other_hears_it_was_taken()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.OnCallAsync("en", 1, "+15555550501");
        await scenario.OnCallAsync("en", 1, "+15555550502");
        scenario.Simulator.Phone("+15555550501").Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);
        scenario.Simulator.Phone("+15555550502").Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("1");
        Assert.True(call.State == CallState.WaitingForDigits, string.Join("\n", call.Transcript) + "\nLOGS:\n" + scenario.Hotline.Factory.Logs.All);
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript) + "\nLOGS:\n" + scenario.Hotline.Factory.Logs.All);
        string[] phones = ["+15555550501", "+15555550502"];
        var heardTaken = phones
            .Count(phone => scenario.Simulator.Phone(phone).Heard.Contains(scenario.Text("en", "screening_taken")));
        Assert.True(heardTaken == 1, string.Join("\n---\n", phones.Select(phone =>
            string.Join("\n", scenario.Simulator.Phone(phone).Calls.SelectMany(c => c.Transcript)))));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM call_legs WHERE status = 'accepted'"));
    }

    [Fact]
    public async Task Hanging_up_in_the_menu_owes_a_callback_but_a_withheld_number_cannot_be_called_back()
    {
        await using var scenario = await VoiceScenario.StartAsync();

        var known = await scenario.Simulator.CallAsync(from: Worker);
        await known.PressAsync("2");
        await known.HangUpAsync();
        var withheld = await scenario.Simulator.CallAsync(from: "+266696687");
        await withheld.HangUpAsync();
        var anonymous = await scenario.Simulator.CallAsync(from: "anonymous");
        await anonymous.HangUpAsync();

        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            Assert.Equal(("abandoned_menu", "es"), await connection.QuerySingleAsync<(string, string)>(
                "SELECT t.reason, t.language_code FROM callback_tasks t JOIN calls c ON c.id = t.call_id WHERE c.call_sid = @Sid", new { known.Sid }));
        }
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM callback_tasks"));
        Assert.Equal(3, await scenario.ScalarAsync<int>("SELECT count(*) FROM calls WHERE status = 'completed'"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM caller_identities"));
    }

    [Fact]
    public async Task Status_by_phone_tells_the_status_with_the_right_pin_and_locks_after_three_wrong_ones()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        OpenedComplaint opened;
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            opened = await Complaints.OpenAsync(connection, transaction, Channels.Sms, "ht", null, CancellationToken.None);
            await connection.ExecuteAsync("UPDATE complaints SET status = 'investigating' WHERE id = @Id", opened, transaction);
            await transaction.CommitAsync();
        }
        var wrong = opened.Pin == "1111" ? "2222" : "1111";

        var first = await scenario.Simulator.CallAsync(from: Worker);
        await first.PressAsync("2");
        await first.PressAsync("2");
        await first.PressAsync(opened.CaseNumber + "#");
        await first.PressAsync(opened.Pin + "#");
        Assert.Contains(scenario.Text("es", "status_investigating"), first.Heard);

        // Back at the main menu, the worker leaves a message: it joins their case, no new one.
        await first.PressAsync("3");
        await first.RecordAsync(TimeSpan.FromSeconds(15));
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM complaints"));
        Assert.Equal(opened.Id, await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { first.Sid }));
        Assert.Contains(scenario.Text("es", "case_number_readout", new Dictionary<string, string> { ["case_number"] = opened.CaseNumber }), first.Heard);

        var second = await scenario.Simulator.CallAsync(from: Worker);
        await second.PressAsync("1");
        await second.PressAsync("2");
        await second.PressAsync(opened.CaseNumber + "#");
        await second.PressAsync(wrong + "#");
        await second.PressAsync(wrong + "#");
        await second.PressAsync(wrong + "#");
        Assert.Equal(2, second.Heard.Count(line => line == scenario.Text("en", "status_wrong_pin")));
        Assert.Contains(scenario.Text("en", "status_locked"), second.Heard);
        Assert.Equal(CallState.Completed, second.State);

        // Locked: even the right PIN does not tell the status for 15 minutes.
        var third = await scenario.Simulator.CallAsync(from: Worker);
        await third.PressAsync("1");
        await third.PressAsync("2");
        await third.PressAsync(opened.CaseNumber + "#");
        await third.PressAsync(opened.Pin + "#");
        Assert.Contains(scenario.Text("en", "status_locked"), third.Heard);
        Assert.DoesNotContain(scenario.Text("en", "status_investigating"), third.Heard);

        var timeline = await scenario.TimelineAsync(opened.Id);
        Assert.Contains("call.joined_case", timeline);
        Assert.Contains("voicemail.left", timeline);
        Assert.Single(timeline, kind => kind == "status.locked");
        Assert.Single(timeline, kind => kind == "status.checked");
    }

    [Theory]
    [MemberData(nameof(Languages))]
    public async Task Status_by_phone_takes_the_pound_key_after_each_entry_and_an_empty_entry_costs_no_try(string digit, string language)
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var opened = await OpenInvestigatingCaseAsync(scenario, language);
        var wrong = opened.Pin == "1111" ? "2222" : "1111";

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync(digit);
        await call.PressAsync("2");
        // A lone # (or nothing) asks again: no "unknown case", no try spent.
        await call.PressAsync("#");
        Assert.Equal(2, HeardCount(scenario, call, language, "status_case_number_prompt"));
        // As the prompt says: the 8 digits, then the pound key, pressed as a person would, one after the other.
        await call.PressAsync(opened.CaseNumber);
        Assert.Equal(CallState.WaitingForDigits, call.State);
        await call.PressAsync("#");
        Assert.Equal(1, HeardCount(scenario, call, language, "status_pin_prompt"));
        await call.PressAsync("#");
        Assert.Equal(2, HeardCount(scenario, call, language, "status_pin_prompt"));
        await call.PressAsync(wrong + "#");
        await call.PressAsync(wrong);
        await call.PressAsync("#");
        Assert.Equal(2, HeardCount(scenario, call, language, "status_wrong_pin"));
        // Two wrong PINs and an empty entry: the third real try is still the worker's, and it verifies.
        await call.PressAsync(opened.Pin);
        await call.PressAsync("#");

        Assert.Equal(1, HeardCount(scenario, call, language, "status_investigating"));
        Assert.Equal(0, HeardCount(scenario, call, language, "status_locked"));
        Assert.Equal(0, HeardCount(scenario, call, language, "status_unknown_case"));
        // The PIN's # ended the PIN: nothing reached the main menu as "we did not get that".
        Assert.Equal(0, HeardCount(scenario, call, language, "invalid_input"));
        Assert.Equal(2, HeardCount(scenario, call, language, "main_menu"));
        Assert.Equal(CallState.WaitingForDigits, call.State);
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM pin_check_tries WHERE complaint_id = @Id", new { opened.Id }));
        Assert.Single(await scenario.TimelineAsync(opened.Id), kind => kind == "status.checked");
        await call.HangUpAsync();
        Assert.Empty(call.Errors);
    }

    private static async Task<OpenedComplaint> OpenInvestigatingCaseAsync(VoiceScenario scenario, string language)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var opened = await Complaints.OpenAsync(connection, transaction, Channels.Sms, language, null, CancellationToken.None);
        await connection.ExecuteAsync("UPDATE complaints SET status = 'investigating' WHERE id = @Id", opened, transaction);
        await transaction.CommitAsync();
        return opened;
    }

    /// <summary>How often the caller heard a prompt (a recording's address in an audio-only language).</summary>
    private static int HeardCount(VoiceScenario scenario, SimulatedCall call, string language, string key) =>
        language == "ht"
            ? call.Heard.Count(heard => heard.Contains($"/ivr-audio/ht/{key}.wav?", StringComparison.Ordinal))
            : call.Heard.Count(heard => heard == scenario.Text(language, key));

    [Fact]
    public async Task Invalid_input_repeats_the_menu_three_times_then_takes_a_sensible_default_never_silence()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.OnCallAsync("en", 1, "+15555550601");
        scenario.Simulator.Phone("+15555550601").Behavior = PhoneBehavior.Answer(pressDigits: "1");

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("9");
        await call.StaySilentAsync();
        await call.PressAsync("0");
        // Three times no language: English, the default; the notice and main menu follow.
        Assert.Contains(scenario.Text("en", "confidentiality_notice"), call.Heard);
        await call.PressAsync("7");
        await call.StaySilentAsync();
        await call.PressAsync("#");
        Assert.Equal(2, call.Heard.Count(line => line == scenario.Text("en", "invalid_input")));
        // Three times nothing useful at the main menu: the default is to connect to a person.
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
    }

    [Fact]
    public async Task A_forged_signature_gets_a_bare_403_and_creates_nothing()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        scenario.Simulator.ForgeNextSignature();

        var call = await scenario.Simulator.CallAsync(from: Worker);

        var error = Assert.Single(call.Errors);
        Assert.Equal(403, error.StatusCode);
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM calls"));
        Assert.DoesNotContain(Worker, scenario.Hotline.Factory.Logs.All, StringComparison.Ordinal);
    }

    private static void AssertHeardInLanguage(VoiceScenario scenario, SimulatedCall call, string language, string key)
    {
        if (language == "ht")
        {
            Assert.Contains(call.Heard, heard => heard.Contains($"/ivr-audio/ht/{key}", StringComparison.Ordinal));
        }
        else
        {
            Assert.Contains(scenario.Text(language, key), call.Heard);
        }
    }
}
