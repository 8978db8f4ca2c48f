using Twilio.Exceptions;
using Twilio.TwiML;
using WsrHotline.Simulator;
using Conference = Twilio.TwiML.Voice.Conference;
using ConferenceResource = Twilio.Rest.Api.V2010.Account.ConferenceResource;
using CreateParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.CreateParticipantOptions;
using Dial = Twilio.TwiML.Voice.Dial;
using ParticipantResource = Twilio.Rest.Api.V2010.Account.Conference.ParticipantResource;
using PhoneNumber = Twilio.Types.PhoneNumber;
using ReadConferenceOptions = Twilio.Rest.Api.V2010.Account.ReadConferenceOptions;
using ReadParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.ReadParticipantOptions;
using UpdateConferenceOptions = Twilio.Rest.Api.V2010.Account.UpdateConferenceOptions;
using UpdateParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.UpdateParticipantOptions;

namespace WsrHotline.Tests.Simulator;

/// <summary>
/// The REST stand-in's Conference and Participant resources, driven through Twilio's own library the way
/// the hotline drives them: a worker waits in a conference named after the case; the app adds the
/// investigator (and a coordinator) as participants, holds, mutes, coaches, kicks, and ends it.
/// </summary>
public sealed class ConferenceRestTests : IAsyncLifetime
{
    private const string Caller = "+15555550123";
    private const string TollFree = "+18005550100";
    private const string Investigator = "+15555550111";
    private const string Coordinator = "client:staff-7"; // a console's browser (Voice SDK)
    private const string StatusPath = "/twilio/conference/status";
    private const string Room = "case-20260007";
    private FakeHotline hotline = null!;
    private ParticipantResource? created;

    private VoiceSimulator Simulator => hotline.Simulator;

    public async Task InitializeAsync() => hotline = await FakeHotline.StartAsync();

    public async Task DisposeAsync()
    {
        Assert.Equal(0, hotline.InvalidSignatures);
        await hotline.DisposeAsync();
    }

    /// <summary>The worker calls; from inside the voice webhook the app adds the investigator by the room's name and puts the worker in the room.</summary>
    private async Task<(SimulatedCall Worker, SimulatedCall Leg, string ConferenceSid)> WorkerAndInvestigatorInARoomAsync()
    {
        Simulator.Phone(Investigator).Behavior = PhoneBehavior.Answer(afterSeconds: 3);
        hotline.On("/twilio/voice/incoming", async _ =>
        {
            created = await ParticipantResource.CreateAsync(new CreateParticipantOptions(Room, new PhoneNumber(TollFree), new PhoneNumber(Investigator))
            {
                Label = "investigator",
                EndConferenceOnExit = true,
                Beep = "false",
                ConferenceStatusCallback = FakeHotline.Public(StatusPath),
                ConferenceStatusCallbackEvent = ["start", "end", "join", "leave", "mute", "hold", "modify"],
                StatusCallback = FakeHotline.Public("/twilio/agent/status"),
                StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                Timeout = 20,
            }, hotline.Rest);
            return new VoiceResponse().Append(new Dial(action: new Uri("/twilio/voice/after-conference", UriKind.Relative))
                .Conference(Room, startConferenceOnEnter: false, participantLabel: "worker",
                    statusCallback: FakeHotline.Public(StatusPath),
                    statusCallbackEvent: [Conference.EventEnum.Start, Conference.EventEnum.End, Conference.EventEnum.Join, Conference.EventEnum.Leave, Conference.EventEnum.Mute, Conference.EventEnum.Hold, Conference.EventEnum.Modify]));
        });
        hotline.On("/twilio/voice/after-conference", form => new VoiceResponse().Say("Dial " + form["DialCallStatus"]).Hangup());

        var worker = await Simulator.CallAsync(Caller);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));
        var leg = Assert.Single(Simulator.Phone(Investigator).Calls);
        Assert.Equal(CallState.InConference, leg.State);
        Assert.Equal(CallState.InConference, worker.State);
        return (worker, leg, worker.Conference!.Sid);
    }

    [Fact]
    public async Task A_participant_added_by_rest_is_called_joins_when_it_answers_and_is_listed_muted_and_ended_with_the_conference()
    {
        var (worker, leg, conferenceSid) = await WorkerAndInvestigatorInARoomAsync();

        Assert.NotNull(created);
        Assert.Equal(leg.Sid, created.CallSid);
        Assert.Equal(conferenceSid, created.ConferenceSid);
        Assert.Equal("investigator", created.Label);
        Assert.False(created.Muted);
        Assert.False(created.Hold);
        Assert.Equal("outbound-api", leg.Direction);
        Assert.Empty(hotline.Requests("/twilio/agent/join")); // joined without any TwiML
        Assert.Equal("in-progress", worker.Conference!.Status);

        var listed = Assert.Single(await ConferenceResource.ReadAsync(
            new ReadConferenceOptions { FriendlyName = Room, Status = ConferenceResource.StatusEnum.InProgress }, hotline.Rest));
        Assert.Equal(conferenceSid, listed.Sid);
        Assert.Equal(Room, listed.FriendlyName);
        Assert.Equal(ConferenceResource.StatusEnum.InProgress, listed.Status);
        var participants = (await ParticipantResource.ReadAsync(new ReadParticipantOptions(conferenceSid), hotline.Rest)).ToList();
        Assert.Equal([leg.Sid, worker.Sid], participants.Select(p => p.CallSid)); // the investigator was added first
        Assert.Equal("worker", participants[1].Label);
        var byLabel = await ParticipantResource.FetchAsync(conferenceSid, "investigator", client: hotline.Rest);
        Assert.Equal(leg.Sid, byLabel.CallSid);
        Assert.True(byLabel.EndConferenceOnExit);

        await worker.SayAsync("He keeps my passport.");
        Assert.Equal("He keeps my passport.", leg.Heard[^1]);
        var muted = await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, leg.Sid) { Muted = true }, hotline.Rest);
        Assert.True(muted.Muted);
        await Simulator.Phone(Investigator).SayAsync("Nobody hears this.");
        Assert.DoesNotContain("Nobody hears this.", worker.Heard);
        await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, leg.Sid) { Muted = false }, hotline.Rest);
        await Simulator.Phone(Investigator).SayAsync("Can you tell me where?");
        Assert.Equal("Can you tell me where?", worker.Heard[^1]);

        var ended = await ConferenceResource.UpdateAsync(
            new UpdateConferenceOptions(conferenceSid) { Status = ConferenceResource.UpdateStatusEnum.Completed }, hotline.Rest);
        Assert.Equal(conferenceSid, ended.Sid);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.Completed, worker.State);
        Assert.Equal("Dial completed", worker.Heard[^1]);
        Assert.Equal(CallState.Completed, leg.State); // a REST participant has no TwiML after the room: it hangs up
        var fetched = await ConferenceResource.FetchAsync(conferenceSid, client: hotline.Rest);
        Assert.Equal(ConferenceResource.StatusEnum.Completed, fetched.Status);
        Assert.Empty(await ParticipantResource.ReadAsync(new ReadParticipantOptions(conferenceSid), hotline.Rest));

        var events = hotline.Requests(StatusPath);
        Assert.Equal(
            ["participant-join", "participant-join", "conference-start", "participant-mute", "participant-unmute", "participant-leave", "participant-leave", "conference-end"],
            events.Select(e => e["StatusCallbackEvent"]));
        Assert.Equal(worker.Sid, events[0]["CallSid"]);
        Assert.Equal(leg.Sid, events[1]["CallSid"]);
        Assert.Equal("true", events[3]["Muted"]);
        Assert.Equal("false", events[4]["Muted"]);
        Assert.Equal("conference-ended-via-api", events[^1]["ReasonConferenceEnded"]);
        Assert.False(events[^1].ContainsKey("CallSidEndingConference"));
        var legStatuses = hotline.Requests("/twilio/agent/status");
        Assert.Equal(["queued", "ringing", "in-progress", "completed"], legStatuses.Select(s => s["CallStatus"]));
    }

    [Fact]
    public async Task A_held_worker_hears_the_hold_url_again_and_again_and_nothing_of_the_room_until_resumed()
    {
        var (worker, leg, conferenceSid) = await WorkerAndInvestigatorInARoomAsync();
        hotline.On("/twilio/voice/hold-music", _ => new VoiceResponse().Say("Un momento, por favor.", language: "es-US").Pause(length: 10));

        var held = await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, worker.Sid)
        {
            Hold = true,
            HoldUrl = FakeHotline.Public("/twilio/voice/hold-music"),
        }, hotline.Rest);
        Assert.True(held.Hold);
        await worker.WaitAsync(TimeSpan.FromSeconds(25));
        await Simulator.Phone(Investigator).SayAsync("Let me check the file.");

        Assert.True(hotline.Requests("/twilio/voice/hold-music").Count >= 2, "the hold document plays in a loop");
        Assert.All(hotline.Requests("/twilio/voice/hold-music"), r => Assert.Equal(worker.Sid, r["CallSid"]));
        Assert.Equal("Un momento, por favor.", worker.Heard[^1]);
        Assert.DoesNotContain("Let me check the file.", worker.Heard);
        Assert.Contains(worker.Transcript, e => e is HoldChanged { Hold: true });
        Assert.True(worker.Participant!.Hold);

        await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, worker.Sid) { Hold = false }, hotline.Rest);
        await worker.WaitAsync(TimeSpan.FromSeconds(15));
        var requestsAfterResume = hotline.Requests("/twilio/voice/hold-music").Count;
        await Simulator.Phone(Investigator).SayAsync("Thank you for waiting.");
        await worker.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("Thank you for waiting.", worker.Heard[^1]);
        Assert.Equal(requestsAfterResume, hotline.Requests("/twilio/voice/hold-music").Count);
        Assert.Contains(worker.Transcript, e => e is HoldChanged { Hold: false });
        var holds = hotline.Requests(StatusPath).Where(e => e["StatusCallbackEvent"] is "participant-hold" or "participant-unhold").ToList();
        Assert.Equal(["participant-hold", "participant-unhold"], holds.Select(e => e["StatusCallbackEvent"]));
        Assert.Equal("true", holds[0]["Hold"]);
        Assert.Equal(worker.Sid, holds[0]["CallSid"]);
    }

    [Fact]
    public async Task Held_without_a_hold_url_the_worker_hears_the_default_hold_music()
    {
        var (worker, _, conferenceSid) = await WorkerAndInvestigatorInARoomAsync();

        await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, worker.Sid) { Hold = true }, hotline.Rest);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3", worker.Heard[^1]);
    }

    [Fact]
    public async Task A_coach_is_heard_only_by_the_investigator_hears_everyone_joins_unannounced_and_is_kicked_by_label()
    {
        var (worker, leg, conferenceSid) = await WorkerAndInvestigatorInARoomAsync();
        Simulator.Phone(Coordinator).Behavior = PhoneBehavior.Answer(afterSeconds: 2);

        var coach = await ParticipantResource.CreateAsync(new CreateParticipantOptions(conferenceSid, new PhoneNumber(TollFree), new PhoneNumber(Coordinator))
        {
            Label = "coordinator",
            Coaching = true,
            CallSidToCoach = leg.Sid,
            Beep = "false",
            Muted = false,
        }, hotline.Rest);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));
        var coachLeg = Assert.Single(Simulator.Phone(Coordinator).Calls);

        Assert.True(coach.Coaching);
        Assert.Equal(leg.Sid, coach.CallSidToCoach);
        Assert.Equal(CallState.InConference, coachLeg.State);
        Assert.Contains(worker.Transcript, e => e is ParticipantJoined { Beep: false } joined && joined.CallSid == coachLeg.Sid);
        Assert.DoesNotContain(SimulatedCall.Beep, worker.Heard); // nobody told the worker someone is listening

        await Simulator.Phone(Coordinator).SayAsync("Ask about the passport.");
        await worker.SayAsync("I worked twelve hours a day.");

        Assert.Equal("Ask about the passport.", leg.Heard[^2]);
        Assert.DoesNotContain("Ask about the passport.", worker.Heard);
        Assert.Equal("I worked twelve hours a day.", coachLeg.Heard[^1]);
        Assert.Equal("I worked twelve hours a day.", leg.Heard[^1]);

        // Barge: coaching off, the coordinator is heard by everyone.
        await ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, "coordinator") { Coaching = false }, hotline.Rest);
        await Simulator.Phone(Coordinator).SayAsync("I am the coordinator, I am here too.");
        Assert.Equal("I am the coordinator, I am here too.", worker.Heard[^1]);

        await ParticipantResource.DeleteAsync(conferenceSid, "coordinator", client: hotline.Rest);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.Completed, coachLeg.State);
        Assert.Equal(CallState.InConference, worker.State); // the room goes on without the coordinator
        Assert.Equal([leg.Sid, worker.Sid], worker.Conference!.Participants.Select(p => p.Call.Sid));
        var missing = await Assert.ThrowsAsync<ApiException>(() => ParticipantResource.FetchAsync(conferenceSid, "coordinator", client: hotline.Rest));
        Assert.Equal(404, missing.Status);
        var coachEvents = hotline.Requests(StatusPath).Where(e => e.GetValueOrDefault("CallSid") == coachLeg.Sid).ToList();
        Assert.Equal(["participant-join", "participant-modify", "participant-leave"], coachEvents.Select(e => e["StatusCallbackEvent"]));
        Assert.Equal("true", coachEvents[0]["Coaching"]);
        Assert.Equal(leg.Sid, coachEvents[0]["CallSidToCoach"]);
        Assert.Equal("false", coachEvents[1]["Coaching"]);
        Assert.Equal("coordinator", coachEvents[2]["ParticipantLabel"]);
    }

    [Fact]
    public async Task A_kicked_investigator_ends_the_conference_it_ends_on_exit()
    {
        var (worker, leg, conferenceSid) = await WorkerAndInvestigatorInARoomAsync();

        await ParticipantResource.DeleteAsync(conferenceSid, leg.Sid, client: hotline.Rest);
        await worker.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(CallState.Completed, leg.State);
        Assert.Equal("Dial completed", worker.Heard[^1]);
        Assert.Equal("participant-with-end-conference-on-exit-kicked", Simulator.FindConference(conferenceSid)!.ReasonEnded);
    }
}
