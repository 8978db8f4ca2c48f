using System.Globalization;
using System.Net.Http.Json;
using Twilio.TwiML;
using WsrHotline.Simulator;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using Conference = Twilio.TwiML.Voice.Conference;
using CreateCallOptions = Twilio.Rest.Api.V2010.Account.CreateCallOptions;
using Dial = Twilio.TwiML.Voice.Dial;
using PhoneNumber = Twilio.Types.PhoneNumber;
using UpdateCallOptions = Twilio.Rest.Api.V2010.Account.UpdateCallOptions;

namespace WsrHotline.Tests.Simulator;

/// <summary>&lt;Dial&gt;&lt;Conference&gt; in the simulator, against a TwiML app of the test's own.</summary>
public sealed class ConferenceSimulatorTests : IAsyncLifetime
{
    private const string Caller = "+15555550123";
    private const string TollFree = "+18005550100";
    private const string Investigator = "+15555550111";
    private const string StatusPath = "/twilio/conference/status";
    private FakeHotline hotline = null!;

    private VoiceSimulator Simulator => hotline.Simulator;

    private static readonly Conference.EventEnum[] AllEvents =
    [
        Conference.EventEnum.Start, Conference.EventEnum.End, Conference.EventEnum.Join, Conference.EventEnum.Leave,
        Conference.EventEnum.Mute, Conference.EventEnum.Hold, Conference.EventEnum.Modify,
    ];

    public async Task InitializeAsync() => hotline = await FakeHotline.StartAsync();

    public async Task DisposeAsync()
    {
        Assert.Equal(0, hotline.InvalidSignatures);
        await hotline.DisposeAsync();
    }

    private static Uri Url(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task A_caller_waits_in_a_conference_until_it_starts_talks_and_its_dial_action_runs_when_the_one_who_ends_it_leaves()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial(action: Url("/twilio/voice/after-conference"))
                .Conference("case-1", startConferenceOnEnter: false, waitUrl: Url("/twilio/voice/conference-wait"),
                    statusCallback: Url(StatusPath), statusCallbackEvent: AllEvents, participantLabel: "worker")));
        hotline.On("/twilio/voice/conference-wait", _ => new VoiceResponse().Say("Please stay on the line.").Pause(length: 10));
        hotline.On("/twilio/voice/after-conference", form => new VoiceResponse().Say("Call ended: " + form["DialCallStatus"]).Hangup());
        hotline.On("/twilio/agent/join", _ => new VoiceResponse()
            .Append(new Dial().Conference("case-1", endConferenceOnExit: true,
                statusCallback: Url(StatusPath), statusCallbackEvent: AllEvents, participantLabel: "investigator")));
        var phone = Simulator.Phone(Investigator);
        phone.Behavior = PhoneBehavior.Answer(afterSeconds: 2);

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(CallState.InConference, call.State);
        var conference = Assert.Single(Simulator.Conferences);
        Assert.Matches("^CF[0-9a-f]{32}$", conference.Sid);
        Assert.Equal("case-1", conference.FriendlyName);
        Assert.Equal("init", conference.Status);
        Assert.Same(conference, call.Conference);
        await call.WaitAsync(TimeSpan.FromSeconds(25));
        Assert.True(hotline.Requests("/twilio/voice/conference-wait").Count >= 2, "the wait document is played again and again");
        Assert.Equal("Please stay on the line.", call.Heard[^1]);

        await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(Investigator), new PhoneNumber(TollFree))
        {
            Url = FakeHotline.Public("/twilio/agent/join"),
        }, hotline.Rest);
        await Simulator.AdvanceAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("in-progress", conference.Status);
        var leg = Assert.Single(phone.Calls);
        Assert.Equal(CallState.InConference, leg.State);
        Assert.Equal([call.Sid, leg.Sid], conference.Participants.Select(p => p.Call.Sid));
        Assert.Equal(SimulatedCall.Beep, call.Heard[^1]); // the investigator joined with the default beep

        await call.SayAsync("My boss took my passport.");
        await phone.SayAsync("I am listening.");
        Assert.Contains("My boss took my passport.", leg.Heard);
        Assert.Equal("I am listening.", call.Heard[^1]);
        Assert.Contains(call.Transcript, e => e is HeardSpeech { Words: "I am listening." } heard && heard.FromCallSid == leg.Sid);

        await phone.HangUpAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("Call ended: completed", call.Heard[^1]);
        Assert.Contains(call.Transcript, e => e is ConferenceLeft { Reason: "conference-ended" });
        Assert.Equal("completed", conference.Status);
        Assert.Equal("participant-with-end-conference-on-exit-left", conference.ReasonEnded);
        Assert.Equal(leg.Sid, conference.CallSidEndingConference);
        Assert.Empty(conference.Participants);
        var action = Assert.Single(hotline.Requests("/twilio/voice/after-conference"));
        Assert.Equal("completed", action["DialCallStatus"]);
        Assert.Equal(call.Sid, action["CallSid"]);

        var events = hotline.Requests(StatusPath);
        Assert.Equal(
            ["participant-join", "participant-join", "conference-start", "participant-leave", "participant-leave", "conference-end"],
            events.Select(e => e["StatusCallbackEvent"]));
        Assert.Equal(["1", "2", "3", "4", "5", "6"], events.Select(e => e["SequenceNumber"]));
        Assert.All(events, e =>
        {
            Assert.Equal(conference.Sid, e["ConferenceSid"]);
            Assert.Equal("case-1", e["FriendlyName"]);
            Assert.Equal(Infrastructure.TestKeys.TwilioAccountSid, e["AccountSid"]);
            Assert.True(DateTimeOffset.TryParse(e["Timestamp"], CultureInfo.InvariantCulture, out _));
        });
        var workerJoin = events[0];
        Assert.Equal(call.Sid, workerJoin["CallSid"]);
        Assert.Equal("worker", workerJoin["ParticipantLabel"]);
        Assert.Equal("false", workerJoin["StartConferenceOnEnter"]);
        Assert.Equal("false", workerJoin["EndConferenceOnExit"]);
        Assert.Equal("false", workerJoin["Muted"]);
        Assert.Equal("false", workerJoin["Hold"]);
        Assert.Equal("false", workerJoin["Coaching"]);
        Assert.Equal("investigator", events[1]["ParticipantLabel"]);
        Assert.Equal("true", events[1]["EndConferenceOnExit"]);
        Assert.False(events[2].ContainsKey("CallSid"));
        Assert.Equal(leg.Sid, events[3]["CallSid"]);
        Assert.Equal(call.Sid, events[4]["CallSid"]);
        Assert.Equal("participant-with-end-conference-on-exit-left", events[5]["ReasonConferenceEnded"]);
        Assert.Equal(leg.Sid, events[5]["CallSidEndingConference"]);
    }

    [Fact]
    public async Task Without_an_action_the_verb_after_the_dial_runs_when_the_last_participant_leaves_and_only_the_asked_for_events_are_posted()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial(timeLimit: 60).Conference("room-2", beep: Conference.BeepEnum.False,
                statusCallback: Url(StatusPath), statusCallbackEvent: [Conference.EventEnum.Start, Conference.EventEnum.End]))
            .Say("The conference is over.")
            .Hangup());

        var call = await Simulator.CallAsync(Caller);

        Assert.Equal(CallState.InConference, call.State);
        var conference = Assert.Single(Simulator.Conferences);
        Assert.Equal("in-progress", conference.Status); // startConferenceOnEnter defaults to true
        Assert.DoesNotContain("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3", call.Heard);

        await call.WaitAsync(TimeSpan.FromSeconds(90)); // <Dial timeLimit="60">

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("The conference is over.", call.Heard[^1]);
        Assert.Contains(call.Transcript, e => e is ConferenceLeft { Reason: "time-limit" });
        Assert.Equal("last-participant-left", conference.ReasonEnded);
        var events = hotline.Requests(StatusPath);
        Assert.Equal(["conference-start", "conference-end"], events.Select(e => e["StatusCallbackEvent"]));
        Assert.Equal("last-participant-left", events[1]["ReasonConferenceEnded"]);
        Assert.Equal(call.Sid, events[1]["CallSidEndingConference"]);
    }

    [Fact]
    public async Task Before_the_conference_starts_the_default_wait_is_hold_music_and_words_reach_nobody()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial().Conference("room-3", startConferenceOnEnter: false)));

        var first = await Simulator.CallAsync(Caller);
        var second = await Simulator.CallAsync("+15555550124", to: TollFree);
        await first.SayAsync("Is anyone there?");

        Assert.Equal("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3", first.Heard[0]);
        Assert.DoesNotContain("Is anyone there?", second.Heard);
        Assert.Contains(first.Transcript, e => e is Spoke { Words: "Is anyone there?", HeardBy: 0 });
        Assert.Equal("init", first.Conference!.Status);
        Assert.Equal(2, first.Conference.Participants.Count);

        await second.HangUpAsync();
        await first.HangUpAsync();
        Assert.Equal("completed", Assert.Single(Simulator.Conferences).Status);
    }

    [Fact]
    public async Task In_a_two_party_bridge_each_side_hears_what_the_other_says()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial().Number(new PhoneNumber(Investigator))));
        var phone = Simulator.Phone(Investigator);

        var call = await Simulator.CallAsync(Caller);
        await call.SayAsync("Hello, I need help.");
        await phone.SayAsync("You are speaking with the hotline.");

        Assert.Equal(CallState.Bridged, call.State);
        Assert.Equal("Hello, I need help.", phone.Heard[^1]);
        Assert.Equal("You are speaking with the hotline.", call.Heard[^1]);
        Assert.Contains(phone.CurrentCall!.Transcript, e => e is Spoke { Words: "You are speaking with the hotline.", HeardBy: 1 });
    }

    [Fact]
    public async Task A_queued_caller_redirected_by_rest_leaves_the_queue_and_joins_the_conference_of_the_new_twiml()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Enqueue("es", waitUrl: Url("/twilio/voice/hold"), action: Url("/twilio/voice/after-queue")));
        hotline.On("/twilio/voice/hold", _ => new VoiceResponse().Say("Espere, por favor.", language: "es-US").Pause(length: 10));
        hotline.On("/twilio/voice/after-queue", _ => new VoiceResponse().Say("Not heard: the redirect's TwiML runs instead."));
        hotline.On("/twilio/voice/to-conference", _ => new VoiceResponse()
            .Append(new Dial(action: Url("/twilio/voice/after-conference")).Conference("case-9", statusCallback: Url(StatusPath))));
        hotline.On("/twilio/voice/after-conference", _ => new VoiceResponse().Hangup());

        var call = await Simulator.CallAsync(Caller);
        Assert.Equal(CallState.InQueue, call.State);
        await CallResource.UpdateAsync(new UpdateCallOptions(call.Sid)
        {
            Url = FakeHotline.Public("/twilio/voice/to-conference"),
        }, hotline.Rest);
        await call.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.InConference, call.State);
        Assert.Null(call.QueueName);
        Assert.Equal("case-9", call.Conference!.FriendlyName);
        Assert.Contains(call.Transcript, e => e is QueueExited { Result: "redirected" });
        // Twilio requests the Enqueue action at once for a call taken out of the queue by the REST API; its TwiML is not played.
        Assert.Equal("redirected", Assert.Single(hotline.Requests("/twilio/voice/after-queue"))["QueueResult"]);
        Assert.DoesNotContain("Not heard: the redirect's TwiML runs instead.", call.Heard);
        Assert.Equal(["conference-start"], hotline.Requests(StatusPath).Select(e => e["StatusCallbackEvent"]));

        await CallResource.UpdateAsync(new UpdateCallOptions(call.Sid)
        {
            Twiml = new VoiceResponse().Say("Moved again.").Hangup().ToString(),
        }, hotline.Rest);
        await call.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("Moved again.", call.Heard[^1]);
        Assert.Empty(hotline.Requests("/twilio/voice/after-conference")); // a REST redirect wins over the Dial action
        Assert.Equal("last-participant-left", Assert.Single(Simulator.Conferences).ReasonEnded);
    }

    [Fact]
    public async Task The_pages_json_api_shows_conferences_with_their_participants_speaks_and_lets_time_pass()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial().Conference("case-11", startConferenceOnEnter: false, participantLabel: "worker")));
        hotline.On("/twilio/agent/join", _ => new VoiceResponse()
            .Append(new Dial().Conference("case-11", muted: true, participantLabel: "investigator")));
        using var http = new HttpClient { BaseAddress = new Uri(hotline.ListeningAddress, "/simulator/api/") };

        var state = await ReadAsync(await http.PostAsJsonAsync("calls", new { from = Caller }));
        var sid = state.GetProperty("call").GetProperty("sid").GetString()!;
        Assert.Equal("InConference", state.GetProperty("call").GetProperty("state").GetString());
        Assert.Equal("case-11", state.GetProperty("call").GetProperty("conference").GetString());
        var room = Assert.Single(state.GetProperty("conferences").EnumerateArray().ToList());
        Assert.Equal("init", room.GetProperty("status").GetString());

        Simulator.Phone(Investigator).Behavior = PhoneBehavior.Answer(afterSeconds: 4);
        await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(Investigator), new PhoneNumber(TollFree))
        {
            Url = FakeHotline.Public("/twilio/agent/join"),
        }, hotline.Rest);
        var before = state.GetProperty("now").GetDouble();
        state = await ReadAsync(await http.PostAsJsonAsync("advance", new { seconds = 10 }));
        Assert.True(state.GetProperty("now").GetDouble() - before >= 10, "time passed with no call in particular");

        room = Assert.Single(state.GetProperty("conferences").EnumerateArray().ToList());
        Assert.Equal("in-progress", room.GetProperty("status").GetString());
        var people = room.GetProperty("participants").EnumerateArray().ToList();
        Assert.Equal(["worker", "investigator"], people.Select(p => p.GetProperty("label").GetString()));
        Assert.True(people[1].GetProperty("muted").GetBoolean());
        Assert.False(people[0].GetProperty("hold").GetBoolean());

        state = await ReadAsync(await http.PostAsJsonAsync($"calls/{sid}/say", new { words = "Hola, necesito ayuda." }));
        var phone = state.GetProperty("phones").EnumerateArray().Single();
        Assert.Equal("Hola, necesito ayuda.", phone.GetProperty("heard").EnumerateArray().Last().GetString());
        Assert.True(phone.GetProperty("call").GetProperty("muted").GetBoolean());
        await ReadAsync(await http.PostAsJsonAsync($"phones/{Uri.EscapeDataString(Investigator)}/say", new { words = "Muted: not heard." }));
        Assert.DoesNotContain("Muted: not heard.", Simulator.FindCall(sid)!.Heard);
        state = await ReadAsync(await http.GetAsync(new Uri($"state?call={sid}", UriKind.Relative)));
        Assert.Contains(state.GetProperty("call").GetProperty("transcript").EnumerateArray(),
            e => e.GetProperty("kind").GetString() == "spoke" && e.GetProperty("heardBy").GetInt32() == 1);
    }

    [Fact]
    public async Task A_coach_joined_by_twiml_is_heard_only_by_the_call_it_coaches_and_a_full_room_fails_the_dial()
    {
        const string worker = "+15555550124", coordinator = "+15555550125", fourth = "+15555550126";
        string? investigatorSid = null;
        hotline.On("/twilio/voice/incoming", form => form["From"].ToString() switch
        {
            Caller => new VoiceResponse().Append(new Dial().Conference("room-4", maxParticipants: 3)),
            worker => new VoiceResponse().Append(new Dial().Conference("room-4", maxParticipants: 3)),
            coordinator => new VoiceResponse().Append(new Dial().Conference("room-4", coach: investigatorSid, beep: Conference.BeepEnum.False, maxParticipants: 3)),
            _ => new VoiceResponse().Append(new Dial(action: Url("/twilio/voice/full")).Conference("room-4", maxParticipants: 3)),
        });
        hotline.On("/twilio/voice/full", form => new VoiceResponse().Say("Dial " + form["DialCallStatus"]).Hangup());

        var investigator = await Simulator.CallAsync(Caller);
        investigatorSid = investigator.Sid;
        var workerCall = await Simulator.CallAsync(worker);
        var coach = await Simulator.CallAsync(coordinator);
        var refused = await Simulator.CallAsync(fourth);
        await coach.SayAsync("Ask her about the wages.");

        Assert.True(coach.Participant!.Coaching);
        Assert.Equal(investigator.Sid, coach.Participant.CallSidToCoach);
        Assert.Equal("Ask her about the wages.", investigator.Heard[^1]);
        Assert.DoesNotContain("Ask her about the wages.", workerCall.Heard);
        Assert.Equal(CallState.Completed, refused.State);
        Assert.Equal("Dial failed", refused.Heard[^1]);
        Assert.Equal(3, investigator.Conference!.Participants.Count);
    }

    private static async Task<System.Text.Json.JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            return await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        }
    }
}
