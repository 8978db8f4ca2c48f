using Microsoft.Extensions.Logging;

namespace WsrHotline.Simulator;

/// <summary>Conferences: the rooms, their status callbacks, the REST stand-in's changes, and who hears whom.</summary>
public sealed partial class VoiceSimulator
{
    private readonly List<SimulatedConference> conferences = [];

    /// <summary>Every conference so far, oldest first, ended ones included.</summary>
    public IReadOnlyList<SimulatedConference> Conferences
    {
        get
        {
            lock (conferences)
            {
                return [.. conferences];
            }
        }
    }

    /// <summary>A conference by its CF sid, or the open one (not completed) with this friendly name.</summary>
    public SimulatedConference? FindConference(string sidOrFriendlyName)
    {
        lock (conferences)
        {
            return conferences.FirstOrDefault(c => c.Sid == sidOrFriendlyName)
                ?? conferences.LastOrDefault(c => c.FriendlyName == sidOrFriendlyName && !c.Ended);
        }
    }

    /// <summary>The open conference with this name, or a new one (Twilio creates it on the first join).</summary>
    internal SimulatedConference ConferenceToJoin(string friendlyName)
    {
        lock (conferences)
        {
            if (conferences.LastOrDefault(c => c.FriendlyName == friendlyName && !c.Ended) is { } open)
            {
                return open;
            }

            var created = new SimulatedConference(NewSid("CF"), friendlyName, Time.Now);
            conferences.Add(created);
            return created;
        }
    }

    /// <summary>Posts the conference's queued events in order, from a coroutine the clock waits for.</summary>
    internal void SendConferenceEvents(SimulatedConference conference)
    {
        if (!conference.ClaimSender())
        {
            return;
        }

        Time.Start(
            async () =>
            {
                while (conference.NextEvent() is { } pending)
                {
                    List<KeyValuePair<string, string>> parameters = [new("AccountSid", Settings.AccountSid), .. pending.Parameters];
                    await Webhooks.SendAsync(pending.Call, pending.Callback.Url, pending.Callback.Method, parameters, "conference-status:" + pending.Event);
                }
            },
            exception =>
            {
                LogConferenceFault(Logger, exception, conference.Sid);
                faults.Enqueue(exception);
            });
    }

    internal Task SayAsync(SimulatedCall call, string words, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentException.ThrowIfNullOrWhiteSpace(words);
        return RunOperationAsync(
            () =>
            {
                Speak(call, words);
                return true;
            },
            _ => true,
            _ => null,
            cancellationToken);
    }

    /// <summary>The hearing model: who hears the person on <paramref name="speaker"/> (see <see cref="SimulatedConference.HearersOf"/>).</summary>
    private void Speak(SimulatedCall speaker, string words)
    {
        List<SimulatedCall> hearers = speaker.Participant is { } participant
            ? [.. participant.Conference.HearersOf(participant).Select(p => p.Call)]
            : speaker.State == CallState.Bridged && speaker.Peer is { } peer ? [peer] : [];
        var now = Time.Now;
        foreach (var hearer in hearers)
        {
            hearer.Add(new HeardSpeech(now, speaker.Sid, words));
        }

        speaker.Add(new Spoke(now, words, hearers.Count));
    }

    // ---------------------------------------------------------------- the REST stand-in's changes

    /// <summary>
    /// POST Conferences/{Sid}/Participants.json: a call to <paramref name="to"/> that joins the conference
    /// when answered, listed as a queued participant at once. It starts ringing at the next operation.
    /// </summary>
    internal ConferenceParticipant RegisterParticipantCall(SimulatedConference conference, string to, string from, OutboundRequest request, Func<SimulatedCall, ConferenceParticipant> participantFor)
    {
        var call = NewCall(from, to, "outbound-api", PhoneFor(to), parentCallSid: null);
        call.State = CallState.Ringing;
        var participant = participantFor(call);
        request.Join = participant;
        conference.AddPending(participant, Time.Now);
        pendingRestWork.Enqueue(() => LegRunner.StartOutbound(this, call, request));
        LogOutboundCallRegistered(Logger, call.Sid);
        return participant;
    }

    /// <summary>POST Conferences/{Sid}.json Status=completed: the conference ends, every participant's &lt;Dial&gt; with it.</summary>
    internal void EndConference(SimulatedConference conference)
    {
        var toWake = conference.EndViaApi(Time.Now, UtcAt(Time.Now));
        pendingRestWork.Enqueue(() =>
        {
            SimulatedConference.Wake(toWake);
            SendConferenceEvents(conference);
        });
    }

    /// <summary>POST Conferences/{Sid}/Participants/{CallSid}.json: mute, hold, coaching; the events are posted, the leg told.</summary>
    internal void UpdateParticipant(ConferenceParticipant participant, ParticipantChange change)
    {
        var conference = participant.Conference;
        var toWake = conference.Update(participant, change, Time.Now, UtcAt(Time.Now));
        pendingRestWork.Enqueue(() =>
        {
            SimulatedConference.Wake(toWake);
            SendConferenceEvents(conference);
        });
    }

    /// <summary>DELETE Conferences/{Sid}/Participants/{CallSid}.json: the participant is out at once; its leg moves on when it runs.</summary>
    internal void KickParticipant(ConferenceParticipant participant)
    {
        var conference = participant.Conference;
        conference.Kick(participant);
        conference.Leave(participant, kicked: true, Time.Now, UtcAt(Time.Now));
        pendingRestWork.Enqueue(() =>
        {
            SimulatedConference.Wake([participant.Call]);
            if (participant.Call.State == CallState.Ringing)
            {
                participant.Call.PendingHangUpBy ??= "api";
            }

            SendConferenceEvents(conference);
        });
    }

    [LoggerMessage(EventId = 7306, EventName = "SimulatorConferenceFault", Level = LogLevel.Error,
        Message = "Sending the status callbacks of simulated conference {ConferenceSid} failed inside the simulator")]
    private static partial void LogConferenceFault(ILogger logger, Exception exception, string conferenceSid);
}
