using System.Net.Http.Json;
using Twilio.TwiML;
using Twilio.Types;
using WsrHotline.Simulator;
using WsrHotline.Twilio;
using Dial = Twilio.TwiML.Voice.Dial;
using Gather = Twilio.TwiML.Voice.Gather;
using Twilio.Exceptions;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using CreateCallOptions = Twilio.Rest.Api.V2010.Account.CreateCallOptions;
using PhoneNumber = Twilio.Types.PhoneNumber;
using UpdateCallOptions = Twilio.Rest.Api.V2010.Account.UpdateCallOptions;

namespace WsrHotline.Tests.Simulator;

/// <summary>The simulator against a TwiML app of the test's own, over real HTTP both ways.</summary>
public sealed class VoiceSimulatorTests : IAsyncLifetime
{
    private const string Caller = "+15555550123";
    private const string TollFree = "+18005550100";
    private FakeHotline hotline = null!;

    private VoiceSimulator Simulator => hotline.Simulator;

    /// <summary>A TwiML URL as written, relative ones included (Twilio resolves them against the document's URL).</summary>
    private static Uri Url(string pathOrUrl) => new(pathOrUrl, UriKind.RelativeOrAbsolute);

    public async Task InitializeAsync() => hotline = await FakeHotline.StartAsync();

    public async Task DisposeAsync()
    {
        // Every request the simulator made carried a valid signature, unless a test forged one.
        Assert.Equal(hotlineForgeries, hotline.InvalidSignatures);
        await hotline.DisposeAsync();
    }

    [Fact]
    public async Task Digits_pressed_at_a_gather_are_posted_to_its_relative_action_and_its_twiml_runs()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Gather(numDigits: 1, action: Url("language"))
                .Say("Para español, oprima 2.", voice: "Polly.Lupe", language: "es-US")
                .Say("বাংলার জন্য ৩ চাপুন।", language: "bn-IN"))
            .Say("No input.")
            .Hangup());
        hotline.On("/twilio/voice/language", form => new VoiceResponse().Say($"You chose {form["Digits"]}.").Hangup());

        var call = await Simulator.CallAsync(from: Caller, to: TollFree);

        Assert.Equal(CallState.WaitingForDigits, call.State);
        Assert.Equal(["Para español, oprima 2.", "বাংলার জন্য ৩ চাপুন।"], call.Heard);
        Assert.Contains(call.Transcript, e => e is Said { Language: "es-US", Voice: "Polly.Lupe" });

        await call.PressAsync("2");

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("You chose 2.", call.Heard[^1]);
        Assert.DoesNotContain("No input.", call.Heard);
        var incoming = Assert.Single(hotline.Requests("/twilio/voice/incoming"));
        Assert.Equal("ringing", incoming["CallStatus"]);
        Assert.Equal("inbound", incoming["Direction"]);
        Assert.Equal(Caller, incoming["From"]);
        Assert.Equal(TollFree, incoming["To"]);
        Assert.Equal(TestKeysAccount, incoming["AccountSid"]);
        Assert.Matches("^CA[0-9a-f]{32}$", incoming["CallSid"]);
        var action = Assert.Single(hotline.Requests("/twilio/voice/language"));
        Assert.Equal("2", action["Digits"]);
        Assert.Equal("in-progress", action["CallStatus"]);
        Assert.Equal(call.Sid, action["CallSid"]);
        var status = Assert.Single(hotline.Requests("/twilio/voice/status"));
        Assert.Equal("completed", status["CallStatus"]);
        Assert.True(int.Parse(status["CallDuration"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public async Task Silence_at_a_gather_runs_the_next_verb_without_requesting_the_action()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Gather(numDigits: 1, timeout: 7, action: Url("/twilio/voice/menu")).Say("Press 1."))
            .Say("We did not hear a key.")
            .Hangup());

        var call = await Simulator.CallAsync(Caller);
        var before = Simulator.Now;
        await call.StaySilentAsync();

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal(["Press 1.", "We did not hear a key."], call.Heard);
        Assert.Empty(hotline.Requests("/twilio/voice/menu"));
        Assert.True(Simulator.Now - before >= TimeSpan.FromSeconds(7), "the gather's timeout passes in virtual time");
        Assert.Contains(call.Transcript, e => e is GatherTimedOut { ActionRequested: false });
    }

    [Fact]
    public async Task Played_audio_is_fetched_from_the_app_and_lasts_as_long_as_the_file_and_a_missing_file_is_an_error()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Play(Url("/audio/ht-welcome.wav"))
            .Play(Url("/audio/ht-missing.wav"))
            .Say("Mèsi.", language: "ht-HT")
            .Hangup());

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(["https://hotline.test/audio/ht-welcome.wav", "Mèsi."], call.Heard);
        var said = call.Transcript.OfType<Said>().Single();
        var played = call.Transcript.OfType<Played>().First();
        Assert.Equal(200, played.HttpStatus);
        Assert.Equal(TimeSpan.FromSeconds(3), said.At - played.At);
        var error = Assert.Single(call.Errors);
        Assert.Equal(404, error.StatusCode);
        Assert.Equal(new Uri("https://hotline.test/audio/ht-missing.wav"), error.Url);
    }

    [Fact]
    public async Task Digits_arrive_in_parts_until_the_finish_key_which_is_not_posted()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Gather(action: Url("/twilio/voice/case")).Say("Enter your case number, then pound.")));
        hotline.On("/twilio/voice/case", form => new VoiceResponse().Say("Case " + form["Digits"]).Hangup());

        var call = await Simulator.CallAsync(Caller);
        await call.PressAsync("1234");
        Assert.Equal(CallState.WaitingForDigits, call.State);
        await call.PressAsync("5678#");

        var action = Assert.Single(hotline.Requests("/twilio/voice/case"));
        Assert.Equal("12345678", action["Digits"]);
        Assert.Equal("Case 12345678", call.Heard[^1]);
    }

    [Fact]
    public async Task A_recording_posts_its_action_then_its_status_callback_and_can_be_downloaded()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Say("Leave your message after the beep.")
            .Record(action: Url("/twilio/voice/recorded"), maxLength: 120, recordingStatusCallback: Url("/twilio/voice/recording-status")));
        hotline.On("/twilio/voice/recorded", _ => new VoiceResponse().Say("Thank you.").Hangup());

        var call = await Simulator.CallAsync(Caller);
        Assert.Equal(CallState.Recording, call.State);
        await call.RecordAsync(TimeSpan.FromSeconds(40));

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("Thank you.", call.Heard[^1]);
        var action = Assert.Single(hotline.Requests("/twilio/voice/recorded"));
        Assert.Equal("40", action["RecordingDuration"]);
        Assert.Equal("#", action["Digits"]);
        Assert.Matches("^RE[0-9a-f]{32}$", action["RecordingSid"]);
        var status = Assert.Single(hotline.Requests("/twilio/voice/recording-status"));
        Assert.Equal("completed", status["RecordingStatus"]);
        Assert.Equal(action["RecordingSid"], status["RecordingSid"]);
        Assert.Equal(action["RecordingUrl"], status["RecordingUrl"]);
        Assert.Equal("40", status["RecordingDuration"]);
        Assert.Equal(call.Sid, status["CallSid"]);
        Assert.True(hotline.Paths.ToList().IndexOf("/twilio/voice/recorded") < hotline.Paths.ToList().IndexOf("/twilio/voice/recording-status"));

        // Served where the simulator keeps recordings (not under the REST stand-in: the app's media fetcher does not download recordings).
        using var http = new HttpClient();
        using var recording = await http.GetAsync(new Uri(action["RecordingUrl"]));
        Assert.Equal("audio/x-wav", recording.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(40), WebhookSenderWavLength(await recording.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task Hanging_up_while_recording_still_delivers_the_recording_and_ignores_the_action_twiml()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Record(action: Url("/twilio/voice/recorded"), recordingStatusCallback: Url("/twilio/voice/recording-status")));
        hotline.On("/twilio/voice/recorded", _ => new VoiceResponse().Say("Nobody hears this."));

        var call = await Simulator.CallAsync(Caller);
        await call.RecordAsync(TimeSpan.FromSeconds(12), thenHangUp: true);

        var action = Assert.Single(hotline.Requests("/twilio/voice/recorded"));
        Assert.Equal("hangup", action["Digits"]);
        Assert.Equal("12", action["RecordingDuration"]);
        Assert.Equal("completed", action["CallStatus"]);
        Assert.Single(hotline.Requests("/twilio/voice/recording-status"));
        Assert.DoesNotContain("Nobody hears this.", call.Heard);
        Assert.Contains(call.Transcript, e => e is HungUp { By: "caller" });
    }

    [Fact]
    public async Task A_queued_caller_hears_the_wait_url_again_and_again_with_growing_queue_time_until_leave()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Enqueue("spanish", waitUrl: Url("/twilio/voice/wait"), action: Url("/twilio/voice/after-queue")));
        hotline.On("/twilio/voice/wait", form => int.Parse(form["QueueTime"]!, System.Globalization.CultureInfo.InvariantCulture) >= 60
            ? new VoiceResponse().Say("Nobody is free. Leave a message instead.").Leave()
            : new VoiceResponse().Say("Please hold.").Pause(length: 20));
        hotline.On("/twilio/voice/after-queue", form => new VoiceResponse().Say("Result: " + form["QueueResult"]).Hangup());

        var call = await Simulator.CallAsync(Caller);
        Assert.Equal(CallState.InQueue, call.State);
        Assert.Equal("spanish", call.QueueName);

        await call.WaitAsync(TimeSpan.FromMinutes(2));

        var waits = hotline.Requests("/twilio/voice/wait");
        var queueTimes = waits.Select(w => int.Parse(w["QueueTime"], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(0, queueTimes[0]);
        Assert.True(queueTimes.Count >= 4);
        Assert.Equal(queueTimes.OrderBy(t => t).Distinct(), queueTimes);
        Assert.All(waits, w => Assert.Equal("1", w["QueuePosition"]));
        Assert.All(waits, w => Assert.Matches("^QU[0-9a-f]{32}$", w["QueueSid"]));
        var action = Assert.Single(hotline.Requests("/twilio/voice/after-queue"));
        Assert.Equal("leave", action["QueueResult"]);
        Assert.True(int.Parse(action["QueueTime"], System.Globalization.CultureInfo.InvariantCulture) >= 60);
        Assert.Equal("Result: leave", call.Heard[^1]);
        Assert.Equal(CallState.Completed, call.State);
    }

    [Fact]
    public async Task An_investigator_called_from_a_wait_url_screens_the_call_presses_1_and_takes_the_caller_from_the_queue()
    {
        const string investigator = "+15555550111";
        var phone = Simulator.Phone(investigator);
        phone.Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 5);
        var dialed = 0;
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Say("Un momento, por favor.", language: "es-US")
            .Enqueue("es", waitUrl: Url("/twilio/voice/wait"), action: Url("/twilio/voice/queue-done")));
        hotline.On("/twilio/voice/wait", async _ =>
        {
            // The app places the investigator's call from inside the wait request: it must not deadlock.
            if (Interlocked.Exchange(ref dialed, 1) == 0)
            {
                var created = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(investigator), new PhoneNumber(TollFree))
                {
                    Url = FakeHotline.Public("/twilio/agent/screen"),
                    StatusCallback = FakeHotline.Public("/twilio/agent/status"),
                    StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                    Timeout = 25,
                }, hotline.Rest);
                Assert.Equal(CallResource.StatusEnum.Queued, created.Status);
            }

            return new VoiceResponse().Say("Espere, por favor.", language: "es-US").Pause(length: 10);
        });
        hotline.On("/twilio/agent/screen", _ => new VoiceResponse()
            .Append(new Gather(numDigits: 1, action: Url("/twilio/agent/accept")).Say("Press 1 to take a call in Spanish."))
            .Say("Goodbye.")
            .Hangup());
        hotline.On("/twilio/agent/accept", form => form["Digits"] == "1"
            ? new VoiceResponse().Append(new Dial(action: Url("/twilio/agent/dial-done")).Queue("es", url: Url("/twilio/voice/connecting")))
            : new VoiceResponse().Hangup());
        hotline.On("/twilio/voice/connecting", _ => new VoiceResponse().Say("Connecting you now.", language: "en-US"));
        hotline.On("/twilio/agent/dial-done", _ => new VoiceResponse().Hangup());
        hotline.On("/twilio/voice/queue-done", _ => new VoiceResponse().Say("Gracias por llamar.", language: "es-US").Hangup());

        var call = await Simulator.CallAsync(Caller);
        Assert.Equal(CallState.InQueue, call.State);

        await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(CallState.Bridged, call.State);
        var leg = Assert.Single(phone.Calls);
        Assert.Equal(CallState.Bridged, leg.State);
        Assert.Equal("outbound-api", leg.Direction);
        Assert.Contains(call.Transcript, e => e is Bridged b && b.WithCallSid == leg.Sid);
        Assert.Contains("Press 1 to take a call in Spanish.", phone.Heard);
        Assert.Contains("Connecting you now.", call.Heard);
        var screen = Assert.Single(hotline.Requests("/twilio/agent/screen"));
        Assert.Equal(leg.Sid, screen["CallSid"]);
        Assert.Equal("outbound-api", screen["Direction"]);
        Assert.Equal("in-progress", screen["CallStatus"]);
        Assert.Equal(investigator, screen["To"]);
        var connecting = Assert.Single(hotline.Requests("/twilio/voice/connecting"));
        Assert.Equal(call.Sid, connecting["CallSid"]);
        Assert.Equal(leg.Sid, connecting["DequeingCallSid"]);

        await phone.HangUpAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("Gracias por llamar.", call.Heard[^1]);
        var queueDone = Assert.Single(hotline.Requests("/twilio/voice/queue-done"));
        Assert.Equal("bridged", queueDone["QueueResult"]);
        var dialDone = Assert.Single(hotline.Requests("/twilio/agent/dial-done"));
        Assert.Equal("completed", dialDone["DialCallStatus"]);
        Assert.Equal(call.Sid, dialDone["DialCallSid"]);
        Assert.Equal("completed", dialDone["CallStatus"]);
        var statuses = hotline.Requests("/twilio/agent/status");
        Assert.Equal(["queued", "ringing", "in-progress", "completed"], statuses.Select(s => s["CallStatus"]));
        Assert.All(statuses, s => Assert.Equal(leg.Sid, s["CallSid"]));
        Assert.True(int.Parse(statuses[^1]["CallDuration"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Theory]
    [InlineData("no-answer")]
    [InlineData("busy")]
    [InlineData("unknown-number")]
    public async Task A_phone_that_does_not_answer_or_is_busy_reports_it_through_the_status_callback(string behaviour)
    {
        const string number = "+15555550112";
        if (behaviour != "unknown-number")
        {
            Simulator.Phone(number).Behavior = behaviour == "busy" ? PhoneBehavior.Busy : PhoneBehavior.NoAnswer;
        }

        // Placed outside any webhook (like a background job): the simulator picks it up as time passes.
        var created = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(number), new PhoneNumber(TollFree))
        {
            Url = FakeHotline.Public("/twilio/agent/screen"),
            StatusCallback = FakeHotline.Public("/twilio/agent/status"),
            StatusCallbackEvent = ["completed"],
            Timeout = 20,
        }, hotline.Rest);
        await Simulator.AdvanceAsync(TimeSpan.FromSeconds(60));

        var expected = behaviour == "busy" ? "busy" : "no-answer";
        var status = Assert.Single(hotline.Requests("/twilio/agent/status"));
        Assert.Equal(expected, status["CallStatus"]);
        Assert.Equal(created.Sid, status["CallSid"]);
        Assert.Equal("0", status["CallDuration"]);
        Assert.Empty(hotline.Requests("/twilio/agent/screen"));
        Assert.Equal(expected, Simulator.FindCall(created.Sid)!.Status);
    }

    [Fact]
    public async Task Dialing_two_numbers_connects_the_first_that_answers_and_cancels_the_other()
    {
        const string first = "+15555550121", second = "+15555550122";
        Simulator.Phone(first).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);
        Simulator.Phone(second).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 8);
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial(action: Url("/twilio/voice/dial-done"), timeout: 20)
                .Number(new PhoneNumber(first), url: Url("/twilio/agent/screen"))
                .Number(new PhoneNumber(second), url: Url("/twilio/agent/screen"))));
        ScreeningThatAcceptsOn1();
        hotline.On("/twilio/voice/dial-done", form => new VoiceResponse().Say("Dial " + form["DialCallStatus"]).Hangup());

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(CallState.Bridged, call.State);
        var winner = Assert.Single(Simulator.Phone(first).Calls);
        var loser = Assert.Single(Simulator.Phone(second).Calls);
        Assert.Equal(CallState.Bridged, winner.State);
        Assert.Equal("outbound-dial", winner.Direction);
        Assert.Equal(call.Sid, winner.ParentCallSid);
        Assert.Equal("canceled", loser.Status);
        Assert.DoesNotContain(loser.Transcript, e => e is Answered);

        await call.WaitAsync(TimeSpan.FromSeconds(45));
        await call.HangUpAsync();

        var done = Assert.Single(hotline.Requests("/twilio/voice/dial-done"));
        Assert.Equal("completed", done["DialCallStatus"]);
        Assert.Equal(winner.Sid, done["DialCallSid"]);
        Assert.InRange(int.Parse(done["DialCallDuration"], System.Globalization.CultureInfo.InvariantCulture), 45, 46);
        Assert.Equal("completed", done["CallStatus"]);
        Assert.Equal(CallState.Completed, winner.State);
        Assert.DoesNotContain("Dial completed", call.Heard); // the caller had hung up: the action's TwiML is not played
    }

    [Fact]
    public async Task A_phone_that_hangs_up_in_screening_is_not_connected()
    {
        const string declining = "+15555550131", silent = "+15555550132";
        Simulator.Phone(declining).Behavior = PhoneBehavior.Answer(pressDigits: "9", afterSeconds: 2);
        Simulator.Phone(silent).Behavior = PhoneBehavior.NoAnswer;
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial(action: Url("/twilio/voice/dial-done"), timeout: 15)
                .Number(new PhoneNumber(declining), url: Url("/twilio/agent/screen"))
                .Number(new PhoneNumber(silent), url: Url("/twilio/agent/screen"))));
        ScreeningThatAcceptsOn1();
        hotline.On("/twilio/voice/dial-done", form => new VoiceResponse().Say("Dial " + form["DialCallStatus"]).Hangup());

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("Dial no-answer", call.Heard[^1]);
        Assert.DoesNotContain(call.Transcript, e => e is Bridged);
        var declined = Assert.Single(Simulator.Phone(declining).Calls);
        Assert.Contains("Press 1 to accept.", declined.Heard);
        Assert.Contains(declined.Transcript, e => e is HungUp { By: "twiml" });
        Assert.Equal("no-answer", Assert.Single(Simulator.Phone(silent).Calls).Status);
        Assert.False(hotline.Requests("/twilio/voice/dial-done")[0].ContainsKey("DialCallSid"));
    }

    [Fact]
    public async Task The_rest_api_redirects_a_queued_caller_to_new_twiml()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Enqueue("support", waitUrl: Url("/twilio/voice/hold"), action: Url("/twilio/voice/after-queue")));
        hotline.On("/twilio/voice/hold", _ => new VoiceResponse().Say("Please hold.").Pause(length: 10));
        hotline.On("/twilio/voice/after-queue", _ => new VoiceResponse().Say("Not heard: the caller was redirected."));
        hotline.On("/twilio/voice/moved", _ => new VoiceResponse().Say("An investigator will call you back.").Hangup());

        var call = await Simulator.CallAsync(Caller);
        var updated = await CallResource.UpdateAsync(new UpdateCallOptions(call.Sid) { Url = FakeHotline.Public("/twilio/voice/moved") }, hotline.Rest);
        await call.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(call.Sid, updated.Sid);
        Assert.Equal("An investigator will call you back.", call.Heard[^1]);
        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("redirected", Assert.Single(hotline.Requests("/twilio/voice/after-queue"))["QueueResult"]);
        Assert.Contains(call.Transcript, e => e is QueueExited { Result: "redirected" });
    }

    [Fact]
    public async Task The_rest_stand_in_answers_like_twilio_to_unknown_calls_and_wrong_credentials()
    {
        var unknown = await Assert.ThrowsAsync<ApiException>(() => CallResource.UpdateAsync(
            new UpdateCallOptions("CA00000000000000000000000000000000") { Status = CallResource.UpdateStatusEnum.Completed }, hotline.Rest));
        Assert.Equal(404, unknown.Status);
        Assert.Equal(20404, unknown.Code);

        using var http = new HttpClient();
        using var form = new FormUrlEncodedContent([new("To", "+15555550111"), new("From", TollFree), new("Url", "https://hotline.test/x")]);
        using var response = await http.PostAsync(
            new Uri(hotline.ListeningAddress, $"/simulator/twilio/2010-04-01/Accounts/{TestKeysAccount}/Calls.json"), form);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("20003", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_signature_shows_the_apps_403_as_an_application_error()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse().Say("Never heard."));

        Simulator.ForgeNextSignature();
        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(CallState.Completed, call.State);
        var error = Assert.Single(call.Errors);
        Assert.Equal(403, error.StatusCode);
        Assert.Equal(11200, error.ErrorCode);
        Assert.Equal(["We are sorry, an application error has occurred. Goodbye."], call.Heard);
        Assert.Equal(1, hotline.InvalidSignatures);
        Interlocked.Exchange(ref hotlineForgeries, 1);
    }

    [Fact]
    public async Task Unparsable_twiml_is_an_application_error()
    {
        hotline.On("/twilio/voice/incoming", VoiceResponse (_) => throw new InvalidOperationException("an app bug"));

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(500, Assert.Single(call.Errors).StatusCode);
        Assert.Equal(CallState.Completed, call.State);
    }

    [Fact]
    public async Task A_person_drives_a_call_and_a_manual_phone_through_the_pages_json_api()
    {
        const string investigator = "+15555550141";
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Say("Conectando.", language: "es-US")
            .Append(new Dial(timeout: 30).Number(new PhoneNumber(investigator), url: Url("/twilio/agent/screen")))
            .Say("Adiós.", language: "es-US"));
        ScreeningThatAcceptsOn1();
        using var http = new HttpClient { BaseAddress = new Uri(hotline.ListeningAddress, "/simulator/api/") };
        var phonePath = $"phones/{Uri.EscapeDataString(investigator)}";

        (await http.PutAsJsonAsync(phonePath, new { behavior = "manual" })).EnsureSuccessStatusCode();
        var state = await ReadAsync(await http.PostAsJsonAsync("calls", new { from = Caller }));
        var sid = state.GetProperty("call").GetProperty("sid").GetString()!;
        Assert.Equal("Dialing", state.GetProperty("call").GetProperty("state").GetString());
        var phone = state.GetProperty("phones").EnumerateArray().Single();
        Assert.Equal("manual", phone.GetProperty("behavior").GetString());
        Assert.True(phone.GetProperty("call").GetProperty("needsHuman").GetBoolean(), "the manual phone rings for a person");

        state = await ReadAsync(await http.PostAsJsonAsync($"{phonePath}/answer", new { }));
        Assert.Equal("WaitingForDigits", state.GetProperty("phones")[0].GetProperty("call").GetProperty("state").GetString());
        state = await ReadAsync(await http.PostAsJsonAsync($"{phonePath}/press", new { digits = "1" }));
        Assert.Equal(["Press 1 to accept."], state.GetProperty("phones")[0].GetProperty("heard").EnumerateArray().Select(h => h.GetString()));

        state = await ReadAsync(await http.GetAsync(new Uri($"state?call={sid}", UriKind.Relative)));
        Assert.Equal("Bridged", state.GetProperty("call").GetProperty("state").GetString());
        var said = state.GetProperty("call").GetProperty("transcript").EnumerateArray().First(e => e.GetProperty("kind").GetString() == "said");
        Assert.Equal("Conectando.", said.GetProperty("text").GetString());
        Assert.Equal("es-US", said.GetProperty("language").GetString());

        state = await ReadAsync(await http.PostAsJsonAsync($"{phonePath}/hangup", new { }));
        state = await ReadAsync(await http.PostAsJsonAsync($"calls/{sid}/wait", new { seconds = 5 }));
        Assert.Equal("Completed", state.GetProperty("call").GetProperty("state").GetString());
        Assert.Contains(state.GetProperty("call").GetProperty("transcript").EnumerateArray(), e => e.GetProperty("kind").GetString() == "said" && e.GetProperty("text").GetString() == "Adiós.");

        using var conflict = await http.PostAsJsonAsync($"calls/{sid}/press", new { digits = "1" });
        Assert.Equal(System.Net.HttpStatusCode.Conflict, conflict.StatusCode);
        using var unknown = await http.PostAsJsonAsync("calls/CA0/hangup", new { });
        Assert.Equal(System.Net.HttpStatusCode.NotFound, unknown.StatusCode);
    }

    private static async Task<System.Text.Json.JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            return await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        }
    }

    [Fact]
    public async Task When_the_voice_url_fails_the_numbers_fallback_url_gets_the_error_and_answers_the_call()
    {
        await using var withFallback = await FakeHotline.StartAsync(s => s["Simulator:FallbackUrl"] = "/twilio/voice/fallback");
        withFallback.On("/twilio/voice/incoming", VoiceResponse (_) => throw new InvalidOperationException("database down"));
        withFallback.On("/twilio/voice/fallback", _ => new VoiceResponse().Say("Connecting you to the emergency line.").Hangup());

        var call = await withFallback.Simulator.CallAsync(Caller);

        Assert.Equal(["Connecting you to the emergency line."], call.Heard);
        Assert.Equal(500, Assert.Single(call.Errors).StatusCode);
        var fallback = Assert.Single(withFallback.Requests("/twilio/voice/fallback"));
        Assert.Equal("11200", fallback["ErrorCode"]);
        Assert.Equal("https://hotline.test/twilio/voice/incoming", fallback["ErrorUrl"]);
        Assert.Equal(call.Sid, fallback["CallSid"]);
        Assert.Equal(0, withFallback.InvalidSignatures);
    }

    private int hotlineForgeries;

    private void ScreeningThatAcceptsOn1()
    {
        hotline.On("/twilio/agent/screen", _ => new VoiceResponse()
            .Append(new Gather(numDigits: 1, action: Url("/twilio/agent/screened")).Say("Press 1 to accept."))
            .Hangup());
        // An empty document after 1: the screening ends and the phone is connected.
        hotline.On("/twilio/agent/screened", form => form["Digits"] == "1" ? new VoiceResponse() : new VoiceResponse().Hangup());
    }

    private static TimeSpan? WebhookSenderWavLength(byte[] wav)
    {
        var byteRate = BitConverter.ToInt32(wav, 28);
        var dataBytes = BitConverter.ToInt32(wav, 40);
        return TimeSpan.FromSeconds((double)dataBytes / byteRate);
    }

    private const string TestKeysAccount = Infrastructure.TestKeys.TwilioAccountSid;
}
