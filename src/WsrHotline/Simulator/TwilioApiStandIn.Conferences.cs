using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace WsrHotline.Simulator;

/// <summary>Twilio's Conference and Conference Participant resources, as the official library calls them.</summary>
internal static partial class TwilioApiStandIn
{
    private static void MapConferences(RouteGroupBuilder accounts)
    {
        accounts.MapGet("/Conferences.json", ListConferences);
        accounts.MapGet("/Conferences/{conferenceSid}.json", FetchConference);
        accounts.MapPost("/Conferences/{conferenceSid}.json", UpdateConferenceAsync);
        accounts.MapGet("/Conferences/{conferenceSid}/Participants.json", ListParticipants);
        accounts.MapPost("/Conferences/{conferenceSid}/Participants.json", CreateParticipantAsync);
        accounts.MapGet("/Conferences/{conferenceSid}/Participants/{participant}.json", FetchParticipant);
        accounts.MapPost("/Conferences/{conferenceSid}/Participants/{participant}.json", UpdateParticipantAsync);
        accounts.MapDelete("/Conferences/{conferenceSid}/Participants/{participant}.json", DeleteParticipant);
    }

    /// <summary>GET Conferences.json: newest first, filtered by <c>FriendlyName</c> and <c>Status</c> (init, in-progress, completed), paged.</summary>
    private static IResult ListConferences(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var name = request.Query["FriendlyName"].ToString();
        var status = request.Query["Status"].ToString();
        var matching = simulator.Conferences
            .Where(c => (name.Length == 0 || c.FriendlyName == name) && (status.Length == 0 || c.Status == status))
            .Reverse()
            .Select(c => (object)ConferenceJson(c, simulator))
            .ToList();
        return Page(request, simulator, "Conferences.json", "conferences", matching);
    }

    private static IResult FetchConference(string accountSid, string conferenceSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        return simulator.FindConference(conferenceSid) is { } conference ? Results.Json(ConferenceJson(conference, simulator)) : NotFound(request);
    }

    /// <summary>POST Conferences/{Sid}.json: <c>Status=completed</c> ends the conference (every participant leaves it).</summary>
    private static async Task<IResult> UpdateConferenceAsync(string accountSid, string conferenceSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (simulator.ConferenceUpdatesFailWith is { } failure)
        {
            return Error(failure, 20500, "Conference not updated (simulated failure).");
        }
        if (simulator.FindConference(conferenceSid) is not { } conference)
        {
            return NotFound(request);
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        var status = form["Status"].ToString();
        if (status.Length > 0 && status != "completed")
        {
            return Error(400, 20001, "Status can only be 'completed'.");
        }

        if (status == "completed")
        {
            simulator.EndConference(conference);
        }

        return Results.Json(ConferenceJson(conference, simulator));
    }

    /// <summary>GET Conferences/{Sid}/Participants.json: the participants now (none once it ended), filtered by Muted, Hold, Coaching.</summary>
    private static IResult ListParticipants(string accountSid, string conferenceSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (simulator.FindConference(conferenceSid) is not { } conference)
        {
            return NotFound(request);
        }

        var muted = Flag(request.Query["Muted"]);
        var hold = Flag(request.Query["Hold"]);
        var coaching = Flag(request.Query["Coaching"]);
        var participants = conference.Participants
            .Where(p => (muted is null || p.Muted == muted) && (hold is null || p.Hold == hold) && (coaching is null || p.Coaching == coaching))
            .Select(p => (object)ParticipantJson(p, simulator))
            .ToList();
        return Page(request, simulator, $"Conferences/{conference.Sid}/Participants.json", "participants", participants);
    }

    private static IResult FetchParticipant(string accountSid, string conferenceSid, string participant, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        return FindParticipant(simulator, conferenceSid, participant) is { } found
            ? Results.Json(ParticipantJson(found, simulator))
            : NotFound(request);
    }

    /// <summary>
    /// POST Conferences/{Sid}/Participants/{CallSid or label}.json: Muted, Hold (HoldUrl, HoldMethod),
    /// Coaching, CallSidToCoach, EndConferenceOnExit. Answers with the participant as changed.
    /// </summary>
    private static async Task<IResult> UpdateParticipantAsync(string accountSid, string conferenceSid, string participant, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (FindParticipant(simulator, conferenceSid, participant) is not { } found)
        {
            return NotFound(request);
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        Fetch? holdFetch = null;
        if (form["HoldUrl"].ToString() is { Length: > 0 } holdUrl)
        {
            if (!Uri.TryCreate(holdUrl, UriKind.Absolute, out var absolute))
            {
                return Error(400, 21205, "HoldUrl must be an absolute URL.");
            }

            holdFetch = new Fetch(absolute, Method(form["HoldMethod"]), "hold-url", []);
        }

        var coaching = Flag(form["Coaching"]);
        var coached = NullIfEmpty(form["CallSidToCoach"].ToString());
        if (coaching == true && coached is null && found.CallSidToCoach is null)
        {
            return Error(400, 20001, "CallSidToCoach is required when Coaching is true.");
        }

        simulator.UpdateParticipant(found, new ParticipantChange(
            Flag(form["Muted"]), Flag(form["Hold"]), holdFetch, ClearHoldFetch: false, coaching, coached, Flag(form["EndConferenceOnExit"])));
        return Results.Json(ParticipantJson(found, simulator));
    }

    /// <summary>DELETE Conferences/{Sid}/Participants/{CallSid or label}.json: kicks the participant (204).</summary>
    private static IResult DeleteParticipant(string accountSid, string conferenceSid, string participant, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (FindParticipant(simulator, conferenceSid, participant) is not { } found)
        {
            return NotFound(request);
        }

        simulator.KickParticipant(found);
        return Results.NoContent();
    }

    /// <summary>
    /// POST Conferences/{Sid or FriendlyName}/Participants.json: calls <c>To</c> (a number or <c>client:…</c>),
    /// which joins the conference when answered, without fetching TwiML. A friendly name with no open
    /// conference opens one. Answers with the participant, status queued.
    /// </summary>
    private static async Task<IResult> CreateParticipantAsync(string accountSid, string conferenceSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var byName = !(conferenceSid.Length == 34 && conferenceSid.StartsWith("CF", StringComparison.Ordinal));
        var conference = byName ? simulator.ConferenceToJoin(conferenceSid) : simulator.FindConference(conferenceSid);
        if (conference is null || conference.Ended)
        {
            return NotFound(request);
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        string to = form["To"].ToString(), from = form["From"].ToString();
        if (to.Length == 0)
        {
            return Error(400, 21201, "No 'To' number is specified");
        }

        if (from.Length == 0)
        {
            return Error(400, 21213, "No 'From' number is specified");
        }

        Uri? statusCallback = null, conferenceCallback = null, waitUrl = null;
        if ((form["StatusCallback"].ToString() is { Length: > 0 } callback && !Uri.TryCreate(callback, UriKind.Absolute, out statusCallback))
            || (form["ConferenceStatusCallback"].ToString() is { Length: > 0 } conferenceUrl && !Uri.TryCreate(conferenceUrl, UriKind.Absolute, out conferenceCallback))
            || (form["WaitUrl"].ToString() is { Length: > 0 } wait && !Uri.TryCreate(wait, UriKind.Absolute, out waitUrl)))
        {
            return Error(400, 21609, "StatusCallback, ConferenceStatusCallback and WaitUrl must be absolute URLs.");
        }

        var coached = NullIfEmpty(form["CallSidToCoach"].ToString());
        var coaching = Flag(form["Coaching"]) ?? coached is not null;
        if (coaching && coached is null)
        {
            return Error(400, 20001, "CallSidToCoach is required when Coaching is true.");
        }

        var timeout = int.TryParse(form["Timeout"], out var seconds) ? Math.Clamp(seconds, 5, 600) : 60;
        var request2 = new OutboundRequest
        {
            StatusCallback = statusCallback,
            StatusCallbackMethod = Method(form["StatusCallbackMethod"]),
            StatusCallbackEvents = Split(form["StatusCallbackEvent"]),
            TimeoutSeconds = timeout,
        };
        var conferenceEvents = Split(form["ConferenceStatusCallbackEvent"]);
        var participant = simulator.RegisterParticipantCall(conference, to, from, request2, call => new ConferenceParticipant(conference, call)
        {
            Label = NullIfEmpty(form["Label"].ToString()),
            Muted = Flag(form["Muted"]) ?? false,
            Beep = NullIfEmpty(form["Beep"].ToString()) ?? "true",
            StartConferenceOnEnter = Flag(form["StartConferenceOnEnter"]) ?? true,
            EndConferenceOnExit = Flag(form["EndConferenceOnExit"]) ?? false,
            Coaching = coaching,
            CallSidToCoach = coaching ? coached : null,
            Callbacks = conferenceCallback is null
                ? null
                : new ConferenceCallbacks(conferenceCallback, Method(form["ConferenceStatusCallbackMethod"]), LegRunner.Events(string.Join(' ', conferenceEvents))),
            WaitFetch = waitUrl is null ? null : new Fetch(waitUrl, Method(form["WaitMethod"]), "conference-wait", []),
            CreatedAt = simulator.Now,
        });
        return Results.Json(ParticipantJson(participant, simulator), statusCode: StatusCodes.Status201Created);
    }

    private static ConferenceParticipant? FindParticipant(VoiceSimulator simulator, string conferenceSid, string callSidOrLabel) =>
        simulator.FindConference(conferenceSid)?.Find(callSidOrLabel);

    /// <summary>Repeated (X=a&amp;X=b) or space-separated values.</summary>
    private static List<string> Split(StringValues values) =>
        [.. values.SelectMany(v => (v ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))];

    private static bool? Flag(StringValues value) =>
        value.ToString() switch
        {
            "" => null,
            var text => string.Equals(text, "true", StringComparison.OrdinalIgnoreCase),
        };

    private static Dictionary<string, object?> ConferenceJson(SimulatedConference conference, VoiceSimulator simulator)
    {
        var uri = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Conferences/{conference.Sid}";
        return new()
        {
            ["sid"] = conference.Sid,
            ["account_sid"] = simulator.Settings.AccountSid,
            ["friendly_name"] = conference.FriendlyName,
            ["status"] = conference.Status,
            ["region"] = "us1",
            ["api_version"] = "2010-04-01",
            ["date_created"] = Rfc2822(simulator.UtcAt(conference.CreatedAt)),
            ["date_updated"] = Rfc2822(simulator.UtcAt(conference.UpdatedAt)),
            ["reason_conference_ended"] = conference.ReasonEnded,
            ["call_sid_ending_conference"] = conference.CallSidEndingConference,
            ["uri"] = uri + ".json",
            ["subresource_uris"] = new Dictionary<string, string>
            {
                ["participants"] = uri + "/Participants.json",
                ["recordings"] = uri + "/Recordings.json",
            },
        };
    }

    private static Dictionary<string, object?> ParticipantJson(ConferenceParticipant participant, VoiceSimulator simulator)
    {
        var created = Rfc2822(simulator.UtcAt(participant.CreatedAt));
        return new()
        {
            ["account_sid"] = simulator.Settings.AccountSid,
            ["call_sid"] = participant.Call.Sid,
            ["conference_sid"] = participant.Conference.Sid,
            ["label"] = participant.Label,
            ["muted"] = participant.Muted,
            ["hold"] = participant.Hold,
            ["coaching"] = participant.Coaching,
            ["call_sid_to_coach"] = participant.CallSidToCoach,
            ["start_conference_on_enter"] = participant.StartConferenceOnEnter,
            ["end_conference_on_exit"] = participant.EndConferenceOnExit,
            ["status"] = participant.Status,
            ["queue_time"] = "0",
            ["date_created"] = created,
            ["date_updated"] = created,
            ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Conferences/{participant.Conference.Sid}/Participants/{participant.Call.Sid}.json",
        };
    }
}
