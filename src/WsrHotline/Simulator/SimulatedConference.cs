using System.Globalization;

namespace WsrHotline.Simulator;

/// <summary>
/// A named conference room, as Twilio keeps one: it gets its CF sid when its first participant joins
/// (or is added through the REST stand-in), starts once a participant with startConferenceOnEnter is
/// in it, and ends for good (a later join with the same name opens a new conference). Every change
/// is made under this object's lock; the legs and the REST stand-in both change it.
/// </summary>
public sealed class SimulatedConference
{
    private readonly List<ConferenceParticipant> members = [];
    private readonly List<ConferenceCallbacks> callbacks = [];
    private readonly Queue<PendingConferenceEvent> outbox = new();

    internal SimulatedConference(string sid, string friendlyName, TimeSpan createdAt)
    {
        Sid = sid;
        FriendlyName = friendlyName;
        CreatedAt = createdAt;
        UpdatedAt = createdAt;
    }

    /// <summary>"CF" and 32 hex digits.</summary>
    public string Sid { get; }

    /// <summary>The name in &lt;Conference&gt;name&lt;/Conference&gt;.</summary>
    public string FriendlyName { get; }

    /// <summary>Twilio's status: init (nobody who starts it has joined), in-progress, completed.</summary>
    public string Status { get; private set; } = "init";

    /// <summary>Twilio's ReasonConferenceEnded once completed: conference-ended-via-api, participant-with-end-conference-on-exit-left (or -kicked), last-participant-left (or -kicked).</summary>
    public string? ReasonEnded { get; private set; }

    public string? CallSidEndingConference { get; private set; }

    /// <summary>The participants now: connected ones and those still being called (REST-created), oldest first.</summary>
    public IReadOnlyList<ConferenceParticipant> Participants
    {
        get
        {
            lock (this)
            {
                return [.. members];
            }
        }
    }

    internal TimeSpan CreatedAt { get; }

    internal TimeSpan UpdatedAt { get; private set; }

    internal int MaxParticipants { get; set; } = 250;

    internal bool Ended => Status == "completed";

    internal int ConnectedCount
    {
        get
        {
            lock (this)
            {
                return members.Count(m => m.Status == "connected");
            }
        }
    }

    internal ConferenceParticipant? Find(string callSidOrLabel)
    {
        lock (this)
        {
            return members.FirstOrDefault(m => m.Call.Sid == callSidOrLabel)
                ?? members.FirstOrDefault(m => m.Label is not null && m.Label == callSidOrLabel);
        }
    }

    // ---------------------------------------------------------------- changes (each under the lock)

    /// <summary>A participant about to be called (REST create): listed as queued, not yet in the room.</summary>
    internal void AddPending(ConferenceParticipant participant, TimeSpan now)
    {
        lock (this)
        {
            members.Add(participant);
            Register(participant.Callbacks);
            UpdatedAt = now;
        }
    }

    /// <summary>The participant's call is connected to the room: join events, then the start if it starts it.</summary>
    internal void Join(ConferenceParticipant participant, TimeSpan now, DateTimeOffset utc)
    {
        List<SimulatedCall> toWake = [];
        lock (this)
        {
            if (!members.Contains(participant))
            {
                members.Add(participant);
            }

            Register(participant.Callbacks);
            participant.Status = "connected";
            participant.JoinedAt = now;
            UpdatedAt = now;
            Emit("participant-join", participant, utc, []);
            if (Status == "init" && participant.StartConferenceOnEnter)
            {
                Status = "in-progress";
                Emit("conference-start", null, utc, []);
                // Those hearing the wait music now hear the room.
                toWake.AddRange(members.Where(m => m.Status == "connected").Select(m => m.Call));
            }

            // A beep is heard in a room that has started; those still hearing the wait music hear none.
            foreach (var other in Listeners(participant))
            {
                other.Call.Add(new ParticipantJoined(now, Sid, participant.Call.Sid, participant.Label, participant.BeepsOnEnter && Status == "in-progress"));
            }
        }

        Wake(toWake);
    }

    /// <summary>
    /// The participant leaves (hung up, redirected, time limit, kicked): leave events, and the end of the
    /// conference when it was the one that ends it or the last one in it.
    /// </summary>
    internal void Leave(ConferenceParticipant participant, bool kicked, TimeSpan now, DateTimeOffset utc)
    {
        List<SimulatedCall> toWake = [];
        lock (this)
        {
            if (!members.Remove(participant))
            {
                return;
            }

            var wasConnected = participant.Status == "connected";
            participant.Status = "complete";
            participant.Removed = true;
            UpdatedAt = now;
            if (!wasConnected)
            {
                // A REST participant that never answered: it was never in the room.
                if (members.Count == 0 && !Ended)
                {
                    EndCore(kicked ? "last-participant-kicked" : "last-participant-left", participant.Call.Sid, now, utc, toWake);
                }

                Wake(toWake);
                return;
            }

            Emit("participant-leave", participant, utc, []);
            foreach (var other in Listeners(participant))
            {
                other.Call.Add(new ParticipantLeft(now, Sid, participant.Call.Sid, participant.Label, participant.BeepsOnExit && Status == "in-progress"));
            }

            if (Ended)
            {
                return;
            }

            if (participant.EndConferenceOnExit)
            {
                EndCore(kicked ? "participant-with-end-conference-on-exit-kicked" : "participant-with-end-conference-on-exit-left", participant.Call.Sid, now, utc, toWake);
            }
            else if (members.All(m => m.Status != "connected"))
            {
                EndCore(kicked ? "last-participant-kicked" : "last-participant-left", participant.Call.Sid, now, utc, toWake);
            }
        }

        Wake(toWake);
    }

    /// <summary>POST Conferences/{Sid}.json Status=completed.</summary>
    internal List<SimulatedCall> EndViaApi(TimeSpan now, DateTimeOffset utc)
    {
        List<SimulatedCall> toWake = [];
        lock (this)
        {
            if (!Ended)
            {
                EndCore("conference-ended-via-api", null, now, utc, toWake);
            }
        }

        return toWake;
    }

    /// <summary>
    /// A REST update of a participant: the changes given, each with its event (participant-mute or -unmute,
    /// -hold or -unhold, -modify for coaching). Returns the legs to wake (hold changes what they hear).
    /// </summary>
    internal List<SimulatedCall> Update(ConferenceParticipant participant, ParticipantChange change, TimeSpan now, DateTimeOffset utc)
    {
        List<SimulatedCall> toWake = [];
        lock (this)
        {
            UpdatedAt = now;
            if (change.HoldFetch is not null || change.ClearHoldFetch)
            {
                participant.HoldFetch = change.HoldFetch;
            }

            if (change.Muted is { } muted && muted != participant.Muted)
            {
                participant.Muted = muted;
                Emit(muted ? "participant-mute" : "participant-unmute", participant, utc, []);
            }

            if (change.Hold is { } hold && hold != participant.Hold)
            {
                participant.Hold = hold;
                Emit(hold ? "participant-hold" : "participant-unhold", participant, utc, []);
                toWake.Add(participant.Call);
            }

            var coaching = change.Coaching ?? (change.CallSidToCoach is not null ? true : participant.Coaching);
            var coached = change.CallSidToCoach ?? participant.CallSidToCoach;
            if (coaching != participant.Coaching || (coaching && coached != participant.CallSidToCoach))
            {
                participant.Coaching = coaching;
                participant.CallSidToCoach = coaching ? coached : null;
                Emit("participant-modify", participant, utc, []);
            }

            if (change.EndConferenceOnExit is { } endOnExit)
            {
                participant.EndConferenceOnExit = endOnExit;
            }
        }

        return toWake;
    }

    /// <summary>Marks a participant to be kicked (DELETE): its leg leaves when it next runs.</summary>
    internal void Kick(ConferenceParticipant participant)
    {
        lock (this)
        {
            participant.Kicked = true;
        }
    }

    /// <summary>Who hears the room's sounds besides <paramref name="source"/>: connected and not on hold.</summary>
    internal List<ConferenceParticipant> Listeners(ConferenceParticipant source)
    {
        lock (this)
        {
            return [.. members.Where(m => m != source && m.Status == "connected" && !m.Hold)];
        }
    }

    /// <summary>
    /// Who hears <paramref name="speaker"/> say something: nobody while the room has not started or the
    /// speaker is muted or on hold; a coach is heard only by the participant it coaches.
    /// </summary>
    internal List<ConferenceParticipant> HearersOf(ConferenceParticipant speaker)
    {
        lock (this)
        {
            if (Status != "in-progress" || speaker.Status != "connected" || speaker.Muted || speaker.Hold)
            {
                return [];
            }

            var listeners = Listeners(speaker);
            return speaker.Coaching ? [.. listeners.Where(l => l.Call.Sid == speaker.CallSidToCoach)] : listeners;
        }
    }

    /// <summary>Takes the events waiting to be posted, in order (one sender at a time).</summary>
    internal PendingConferenceEvent? NextEvent()
    {
        lock (this)
        {
            if (outbox.TryDequeue(out var next))
            {
                return next;
            }

            Sending = false;
            return null;
        }
    }

    /// <summary>True when the caller should start a sender: there is something to post and nobody posting.</summary>
    internal bool ClaimSender()
    {
        lock (this)
        {
            if (Sending || outbox.Count == 0)
            {
                return false;
            }

            Sending = true;
            return true;
        }
    }

    private bool Sending { get; set; }

    private void EndCore(string reason, string? endingCallSid, TimeSpan now, DateTimeOffset utc, List<SimulatedCall> toWake)
    {
        Status = "completed";
        ReasonEnded = reason;
        CallSidEndingConference = endingCallSid;
        UpdatedAt = now;
        foreach (var remaining in members.ToList())
        {
            members.Remove(remaining);
            var wasConnected = remaining.Status == "connected";
            remaining.Status = "complete";
            remaining.Removed = true;
            if (wasConnected)
            {
                Emit("participant-leave", remaining, utc, []);
            }
            else
            {
                remaining.Call.PendingHangUpBy ??= "conference-ended"; // still ringing: the call is dropped
            }

            toWake.Add(remaining.Call);
        }

        List<KeyValuePair<string, string>> extra = [new("ReasonConferenceEnded", reason)];
        if (endingCallSid is not null)
        {
            extra.Add(new("CallSidEndingConference", endingCallSid));
        }

        Emit("conference-end", null, utc, extra);
    }

    private void Register(ConferenceCallbacks? callback)
    {
        if (callback is not null && !callbacks.Any(c => c.Url == callback.Url))
        {
            callbacks.Add(callback);
        }
    }

    /// <summary>Queues the event for every status callback that asked for it, with the state as it is now.</summary>
    private void Emit(string statusCallbackEvent, ConferenceParticipant? participant, DateTimeOffset utc, List<KeyValuePair<string, string>> extra)
    {
        var shortName = statusCallbackEvent[(statusCallbackEvent.IndexOf('-', StringComparison.Ordinal) + 1)..];
        var family = shortName switch
        {
            "unmute" => "mute",
            "unhold" => "hold",
            _ => shortName,
        };
        foreach (var callback in callbacks.Where(c => c.Events.Contains(family)))
        {
            List<KeyValuePair<string, string>> parameters =
            [
                new("ConferenceSid", Sid),
                new("FriendlyName", FriendlyName),
                new("StatusCallbackEvent", statusCallbackEvent),
                new("SequenceNumber", (++callback.Sequence).ToString(CultureInfo.InvariantCulture)),
                new("Timestamp", utc.ToString("R", CultureInfo.InvariantCulture)),
            ];
            if (participant is not null)
            {
                parameters.Add(new("CallSid", participant.Call.Sid));
                parameters.Add(new("Muted", Bool(participant.Muted)));
                parameters.Add(new("Hold", Bool(participant.Hold)));
                parameters.Add(new("Coaching", Bool(participant.Coaching)));
                if (participant.Coaching && participant.CallSidToCoach is { } coached)
                {
                    parameters.Add(new("CallSidToCoach", coached));
                }

                parameters.Add(new("EndConferenceOnExit", Bool(participant.EndConferenceOnExit)));
                parameters.Add(new("StartConferenceOnEnter", Bool(participant.StartConferenceOnEnter)));
                if (participant.Label is { } label)
                {
                    parameters.Add(new("ParticipantLabel", label));
                }
            }

            parameters.AddRange(extra);
            outbox.Enqueue(new PendingConferenceEvent(callback, participant?.Call, statusCallbackEvent, parameters));
        }
    }

    private static string Bool(bool value) => value ? "true" : "false";

    internal static void Wake(List<SimulatedCall> calls)
    {
        foreach (var call in calls)
        {
            call.ConferenceChanged = true;
            call.Simulator.Time.Signal(call.Mailbox);
        }
    }
}

/// <summary>One call in a conference, with Twilio's participant flags.</summary>
public sealed class ConferenceParticipant
{
    internal ConferenceParticipant(SimulatedConference conference, SimulatedCall call)
    {
        Conference = conference;
        Call = call;
    }

    public SimulatedConference Conference { get; }

    public SimulatedCall Call { get; }

    public string? Label { get; internal init; }

    public bool Muted { get; internal set; }

    public bool Hold { get; internal set; }

    /// <summary>A coach is heard only by <see cref="CallSidToCoach"/>, and hears everyone.</summary>
    public bool Coaching { get; internal set; }

    public string? CallSidToCoach { get; internal set; }

    public bool StartConferenceOnEnter { get; internal init; } = true;

    public bool EndConferenceOnExit { get; internal set; }

    /// <summary>true, false, onEnter or onExit, as in &lt;Conference beep&gt;.</summary>
    public string Beep { get; internal init; } = "true";

    /// <summary>Twilio's participant status: queued, ringing, connected, complete.</summary>
    public string Status { get; internal set; } = "queued";

    internal bool BeepsOnEnter => Beep is "true" or "onEnter";

    internal bool BeepsOnExit => Beep is "true" or "onExit";

    internal ConferenceCallbacks? Callbacks { get; init; }

    /// <summary>The TwiML a held participant hears (HoldUrl); null: the default hold music.</summary>
    internal Fetch? HoldFetch { get; set; }

    /// <summary>The waitUrl document while the conference has not started; null: default music; <see cref="SilentWait"/>: nothing.</summary>
    internal Fetch? WaitFetch { get; init; }

    internal bool SilentWait { get; init; }

    internal TimeSpan? JoinedAt { get; set; }

    internal TimeSpan CreatedAt { get; init; }

    /// <summary>No longer in the room (left, kicked, or the conference ended).</summary>
    internal bool Removed { get; set; }

    /// <summary>DELETE asked for: the leg leaves as kicked.</summary>
    internal bool Kicked { get; set; }
}

/// <summary>Where a participant's conference events go (statusCallback) and which (statusCallbackEvent, short names).</summary>
internal sealed class ConferenceCallbacks(Uri url, string method, IEnumerable<string> events)
{
    public Uri Url { get; } = url;

    public string Method { get; } = method;

    public HashSet<string> Events { get; } = new(events, StringComparer.OrdinalIgnoreCase);

    public int Sequence { get; set; }
}

internal sealed record PendingConferenceEvent(ConferenceCallbacks Callback, SimulatedCall? Call, string Event, List<KeyValuePair<string, string>> Parameters);

/// <summary>A REST update of a participant; null: unchanged.</summary>
internal sealed record ParticipantChange(bool? Muted, bool? Hold, Fetch? HoldFetch, bool ClearHoldFetch, bool? Coaching, string? CallSidToCoach, bool? EndConferenceOnExit);
