using System.Globalization;
using System.Xml.Linq;

namespace WsrHotline.Simulator;

/// <summary>&lt;Dial&gt;&lt;Conference&gt;: a leg in a room, its wait and hold music, and how it leaves.</summary>
internal sealed partial class LegRunner
{
    private async Task<Outcome> DialConferenceAsync(XElement noun, Uri? action, string method, TimeSpan timeLimit)
    {
        var name = noun.Value.Trim();
        call.Add(new Dialed(Now, ["conference:" + name]));
        var conference = simulator.ConferenceToJoin(name);
        var maxParticipants = IntAttribute(noun, "maxParticipants") is { } max and > 0 ? max : 250;
        if (conference.ConnectedCount >= maxParticipants)
        {
            return await AfterDialAsync(action, method, "failed", null, 0, []); // the room is full
        }

        var waitUrl = Attribute(noun, "waitUrl");
        var coach = Attribute(noun, "coach");
        var participant = new ConferenceParticipant(conference, call)
        {
            Label = Attribute(noun, "participantLabel"),
            Muted = True(noun, "muted", false),
            Beep = Attribute(noun, "beep") ?? "true",
            StartConferenceOnEnter = True(noun, "startConferenceOnEnter", true),
            EndConferenceOnExit = True(noun, "endConferenceOnExit", false),
            Coaching = coach is { Length: > 0 },
            CallSidToCoach = coach is { Length: > 0 } ? coach : null,
            Callbacks = ResolveAttribute(noun, "statusCallback") is { } callback
                ? new ConferenceCallbacks(callback, Method(noun, "statusCallbackMethod"), Events(Attribute(noun, "statusCallbackEvent")))
                : null,
            WaitFetch = waitUrl is { Length: > 0 } ? new Fetch(Resolve(waitUrl), Method(noun, "waitMethod"), "conference-wait", []) : null,
            SilentWait = waitUrl is { Length: 0 },
            CreatedAt = Now,
        };

        var (_, seconds) = await InConferenceAsync(participant, timeLimit);
        return await AfterDialAsync(action, method, "completed", null, 0,
            [new("DialCallDuration", seconds.ToString(CultureInfo.InvariantCulture))]);
    }

    /// <summary>Short event names (start end join leave mute hold modify…); none given: start and end.</summary>
    internal static IEnumerable<string> Events(string? statusCallbackEvent) =>
        statusCallbackEvent is { Length: > 0 } events
            ? events.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)
            : ["start", "end"];

    /// <summary>
    /// Puts this leg in the room and keeps it there (wait music until the room starts, the hold TwiML while
    /// held, the others otherwise) until it hangs up, is redirected, kicked, reaches its time limit, or the
    /// conference ends. Returns why it left and how long it was in.
    /// </summary>
    private async Task<(string Reason, int Seconds)> InConferenceAsync(ConferenceParticipant participant, TimeSpan? timeLimit)
    {
        var conference = participant.Conference;
        var mainDocument = documentUrl;
        call.Participant = participant;
        call.State = CallState.InConference;
        call.Add(new ConferenceJoined(Now, conference.Sid, conference.FriendlyName));
        conference.Join(participant, Now, simulator.UtcAt(Now));
        simulator.SendConferenceEvents(conference);
        var joinedAt = Now;

        var timeUp = false;
        using var limitTimer = timeLimit is not { } limit ? null : Time.ScheduleCancellable(limit, () =>
            {
                if (call.Participant == participant)
                {
                    timeUp = true;
                    call.ConferenceChanged = true;
                    Time.Signal(call.Mailbox);
                }
            });

        string reason;
        var held = false;
        while (true)
        {
            call.ConferenceChanged = false;
            if (call.PendingHangUpBy is not null || call.PendingRedirect is not null)
            {
                reason = "left";
                break;
            }

            if (participant.Kicked)
            {
                reason = "kicked";
                break;
            }

            if (participant.Removed)
            {
                reason = "conference-ended";
                break;
            }

            if (timeUp)
            {
                reason = "time-limit";
                break;
            }

            call.State = CallState.InConference;
            bool hold, started;
            lock (conference)
            {
                hold = participant.Hold;
                started = conference.Status == "in-progress";
            }

            if (hold != held)
            {
                held = hold;
                call.Add(new HoldChanged(Now, hold));
            }

            if (hold)
            {
                await PlayConferenceMusicAsync(participant.HoldFetch, silent: false);
            }
            else if (!started)
            {
                await PlayConferenceMusicAsync(participant.WaitFetch, participant.SilentWait);
            }
            else
            {
                await PassTimeAsync(null); // talking: until something changes
            }
        }

        call.ConferenceChanged = false;
        documentUrl = mainDocument;
        conference.Leave(participant, kicked: false, Now, simulator.UtcAt(Now));
        simulator.SendConferenceEvents(conference);
        call.Participant = null;
        call.Add(new ConferenceLeft(Now, conference.Sid, reason));
        RestoreState();
        return (reason, Seconds(Now - joinedAt));
    }

    /// <summary>
    /// The wait (or hold) TwiML, fetched and played over and over (Say, Play, Pause, Redirect), until
    /// something changes for this leg; null: Twilio's default music; a failing document: silence.
    /// </summary>
    private async Task PlayConferenceMusicAsync(Fetch? source, bool silent)
    {
        if (silent)
        {
            await PassTimeAsync(null);
            return;
        }

        if (source is null)
        {
            call.Add(new Played(Now, DefaultHoldMusic, null));
            await PassTimeAsync(DefaultHoldMusicLength);
            return;
        }

        var next = source;
        while (!call.Interrupted)
        {
            var document = await FetchDocumentAsync(next, null);
            if (document is null || !NotLooping())
            {
                await PassTimeAsync(null);
                return;
            }

            var outcome = await ExecuteAsync(document.Elements(), Context.ConferenceMusic);
            if (outcome.Kind == Kind.Error)
            {
                await PassTimeAsync(null);
                return;
            }

            next = outcome.Kind == Kind.Goto ? outcome.Next! : source;
        }
    }

    private static bool True(XElement element, string name, bool otherwise) =>
        Attribute(element, name) is { } value ? string.Equals(value, "true", StringComparison.OrdinalIgnoreCase) : otherwise;
}
