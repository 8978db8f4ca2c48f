using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace WsrHotline.Simulator;

/// <summary>
/// Twilio's REST API for calls and messages, as far as the app uses it, under <c>/simulator/twilio</c>: point
/// <c>Twilio:ApiBaseUrl</c> at <c>{app}/simulator/twilio</c>. Handlers only register the work and
/// answer at once; the simulator acts on it after the app's current webhook has been answered.
/// </summary>
internal static partial class TwilioApiStandIn
{
    public const string BasePath = "/simulator/twilio";

    /// <summary>Maps the stand-in on the <c>/simulator</c> group.</summary>
    public static void Map(RouteGroupBuilder simulator)
    {
        var accounts = simulator.MapGroup("/twilio/2010-04-01/Accounts/{accountSid}");
        accounts.MapPost("/Calls.json", CreateCallAsync);
        accounts.MapPost("/Calls/{callSid}.json", UpdateCallAsync);
        accounts.MapGet("/Calls/{callSid}.json", FetchCall);
        accounts.MapPost("/Messages.json", CreateMessageAsync);
        accounts.MapGet("/Messages/{messageSid}/Media/{mediaSid}", DownloadMedia);
        accounts.MapGet("/Messages.json", ListMessages);
        accounts.MapGet("/Messages/{messageSid}/Media.json", ListMedia);
        accounts.MapGet("/Recordings.json", ListRecordings);
        accounts.MapGet("/Recordings/{file}", DownloadRecording);
        accounts.MapDelete("/Recordings/{recordingSid}.json", DeleteRecording);
        MapConferences(accounts);
    }

    /// <summary>GET Recordings/{Sid}.wav (or no extension): the audio, with the account's credentials (media auth on), 404 once deleted.</summary>
    private static IResult DownloadRecording(string accountSid, string file, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var sid = file.EndsWith(".wav", StringComparison.Ordinal) ? file[..^".wav".Length] : file;
        return simulator.RecordingDuration(sid) is { } seconds ? Results.File(RecordingAudio.Wav(seconds), "audio/x-wav") : NotFound(request);
    }

    /// <summary>DELETE Recordings/{Sid}.json: Twilio's 204, or 404 for a recording it does not have (any more).</summary>
    private static IResult DeleteRecording(string accountSid, string recordingSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (simulator.RecordingDeletesFailWith is { } status)
        {
            return Error(status, 20500, "Recording not deleted (simulated failure).");
        }
        return simulator.DeleteRecording(recordingSid) ? Results.NoContent() : NotFound(request);
    }

    /// <summary>
    /// GET Messages.json: every message of the account, newest first as Twilio lists them, filtered by
    /// <c>To</c>, <c>From</c>, <c>DateSent&gt;</c> and <c>DateSent&lt;</c> (on or after / on or before:
    /// a date or an ISO 8601 time), paged by <c>PageSize</c> (50, at most 1000) and <c>Page</c> with <c>next_page_uri</c>.
    /// </summary>
    private static IResult ListMessages(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var query = request.Query;
        if (!TryBound(query["DateSent>"], out var after) || !TryBound(query["DateSent<"], out var before))
        {
            return Error(400, 20001, "DateSent must be a date (YYYY-MM-DD) or an ISO 8601 date and time.");
        }

        var to = query["To"].ToString();
        var from = query["From"].ToString();
        var matching = simulator.MessageLog
            .Where(m => (to.Length == 0 || m.To == to) && (from.Length == 0 || m.From == from)
                && (after is null || m.At >= after) && (before is null || m.At <= before))
            .OrderByDescending(m => m.At)
            .Select(m => (object)new Dictionary<string, object?>
            {
                ["sid"] = m.Sid,
                ["account_sid"] = simulator.Settings.AccountSid,
                ["from"] = m.From,
                ["to"] = m.To,
                ["body"] = m.Body,
                ["direction"] = m.Direction,
                ["status"] = m.Direction == "inbound" ? "received" : "sent",
                ["num_media"] = m.Media.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["num_segments"] = "1",
                ["date_created"] = Rfc2822(m.At),
                ["date_updated"] = Rfc2822(m.At),
                ["date_sent"] = Rfc2822(m.At),
                ["api_version"] = "2010-04-01",
                ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Messages/{m.Sid}.json",
            })
            .ToList();
        return Page(request, simulator, "Messages.json", "messages", matching);
    }

    /// <summary>GET Messages/{Sid}/Media.json: the message's attachments, each with its <c>uri</c> (the file is that without <c>.json</c>).</summary>
    private static IResult ListMedia(string accountSid, string messageSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (simulator.MessageLog.FirstOrDefault(m => m.Sid == messageSid) is not { } message)
        {
            return NotFound(request);
        }

        var media = message.Media.Select(m => (object)new Dictionary<string, object?>
        {
            ["sid"] = m.MediaSid,
            ["account_sid"] = simulator.Settings.AccountSid,
            ["parent_sid"] = message.Sid,
            ["content_type"] = m.ContentType,
            ["date_created"] = Rfc2822(message.At),
            ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Messages/{message.Sid}/Media/{m.MediaSid}.json",
        }).ToList();
        return Page(request, simulator, $"Messages/{messageSid}/Media.json", "media_list", media);
    }

    /// <summary>GET Recordings.json: the recordings made, newest first, filtered by <c>DateCreated&gt;</c>, <c>DateCreated&lt;</c> and <c>CallSid</c>, paged.</summary>
    private static IResult ListRecordings(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var query = request.Query;
        if (!TryBound(query["DateCreated>"], out var after) || !TryBound(query["DateCreated<"], out var before))
        {
            return Error(400, 20001, "DateCreated must be a date (YYYY-MM-DD) or an ISO 8601 date and time.");
        }

        var callSid = query["CallSid"].ToString();
        var recordings = simulator.Recordings
            .Where(r => (callSid.Length == 0 || r.CallSid == callSid) && (after is null || r.At >= after) && (before is null || r.At <= before))
            .OrderByDescending(r => r.At)
            .Select(r => (object)new Dictionary<string, object?>
            {
                ["sid"] = r.Sid,
                ["account_sid"] = simulator.Settings.AccountSid,
                ["call_sid"] = r.CallSid,
                ["duration"] = r.DurationSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["status"] = "completed",
                ["channels"] = 1,
                ["source"] = "RecordVerb",
                ["date_created"] = Rfc2822(r.At),
                ["date_updated"] = Rfc2822(r.At),
                ["start_time"] = Rfc2822(r.At),
                ["api_version"] = "2010-04-01",
                // Where the simulator serves the audio (Twilio's is api.twilio.com/…/Recordings/RE…).
                ["media_url"] = simulator.Webhooks.RecordingUrl(r.Sid).AbsoluteUri,
                ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Recordings/{r.Sid}.json",
            })
            .ToList();
        return Page(request, simulator, "Recordings.json", "recordings", recordings);
    }

    /// <summary>One page of a list in Twilio's shape: the items under <paramref name="listName"/>, <c>next_page_uri</c> when more follow.</summary>
    private static IResult Page(HttpRequest request, VoiceSimulator simulator, string path, string listName, List<object> items)
    {
        var size = int.TryParse(request.Query["PageSize"], out var requested) ? Math.Clamp(requested, 1, 1000) : 50;
        var page = int.TryParse(request.Query["Page"], out var number) ? Math.Max(0, number) : 0;
        var uri = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/{path}";
        string PageUri(int n) => uri + "?" + string.Join('&', request.Query
            .Where(q => q.Key is not ("Page" or "PageSize" or "PageToken"))
            .Select(q => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(q.Value.ToString()))
            .Append($"PageSize={size}&Page={n}"));
        var hasNext = (page + 1) * size < items.Count;
        return Results.Json(new Dictionary<string, object?>
        {
            [listName] = items.Skip(page * size).Take(size).ToList(),
            ["page"] = page,
            ["page_size"] = size,
            ["start"] = page * size,
            ["end"] = Math.Min(items.Count, (page + 1) * size) - 1,
            ["uri"] = PageUri(page),
            ["first_page_uri"] = PageUri(0),
            ["previous_page_uri"] = page > 0 ? PageUri(page - 1) : null,
            ["next_page_uri"] = hasNext ? PageUri(page + 1) : null,
        });
    }

    /// <summary>A list filter's bound: empty (none), a date (midnight UTC) or an ISO 8601 time.</summary>
    private static bool TryBound(StringValues value, out DateTimeOffset? bound)
    {
        bound = null;
        var text = value.ToString();
        if (text.Length == 0)
        {
            return true;
        }

        if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            bound = parsed;
            return true;
        }

        return false;
    }

    private static string Rfc2822(DateTimeOffset at) => at.ToUniversalTime().ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// GET a worker's attachment, as Twilio serves MediaUrl{N} with HTTP Basic authentication for media
    /// on: 401 without the account's credentials, 404 for an unknown file, the file's simulated failure
    /// status while it is set to fail, else the bytes with their content type and length.
    /// </summary>
    private static IResult DownloadMedia(string accountSid, string messageSid, string mediaSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var (status, file) = simulator.DownloadMedia(messageSid, Path.GetFileNameWithoutExtension(mediaSid));
        if (file?.RedirectTo is { } location)
        {
            return Results.Redirect(location.AbsoluteUri);
        }

        return file is not null
            ? Results.File(file.Content.ToArray(), file.ContentType)
            : status == 404 ? NotFound(request) : Error(status, 20500, "Internal server error (simulated).");
    }

    /// <summary>
    /// POST Messages.json: the text lands in the worker's phone inbox and is answered "queued"; its
    /// delivery reports follow after the answer (see <see cref="VoiceSimulator.DeliverTextsAsync"/>).
    /// A number set to opted out is refused with 400 / 21610, like Twilio.
    /// </summary>
    private static async Task<IResult> CreateMessageAsync(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        string to = form["To"].ToString(), from = form["From"].ToString(), body = form["Body"].ToString();
        if (to.Length == 0)
        {
            return Error(400, 21604, "A 'To' phone number is required.");
        }

        if (from.Length == 0)
        {
            return Error(400, 21603, "A 'From' phone number is required.");
        }

        var mediaCount = form["MediaUrl"].Count;
        if (body.Length == 0 && form["ContentSid"].ToString().Length == 0 && mediaCount == 0)
        {
            return Error(400, 21602, "Message body is required.");
        }

        Uri? statusCallback = null;
        if (form["StatusCallback"].ToString() is { Length: > 0 } callback && !Uri.TryCreate(callback, UriKind.Absolute, out statusCallback))
        {
            return Error(400, 21609, "StatusCallback must be an absolute URL.");
        }

        if (TextChannels.Of(to) != TextChannels.Of(from))
        {
            return Error(400, 63007, "Twilio could not find a Channel with the specified From address");
        }

        var contentSid = form["ContentSid"].ToString();
        var contentVariables = form["ContentVariables"].ToString();
        if (contentVariables.Length > 0 && contentSid.Length == 0)
        {
            return Error(400, 21654, "A ContentSid must be specified if ContentVariables are provided in the request.");
        }

        if (contentSid.Length > 0 && !(contentSid.Length == 34 && contentSid.StartsWith("HX", StringComparison.Ordinal) && contentSid[2..].All(char.IsAsciiHexDigit)))
        {
            return Error(400, 21655, "The ContentSid is invalid.");
        }

        if (contentVariables.Length > 0 && !IsJsonObjectOfStrings(contentVariables))
        {
            return Error(400, 21656, "The ContentVariables parameter is invalid.");
        }

        // A template shows on the phone as its sid and variables: the stand-in has no approved templates to render.
        var shown = contentSid.Length > 0 ? $"[template {contentSid}] {contentVariables}".TrimEnd() : body;
        if (simulator.RegisterOutboundText(to, from, shown, mediaCount, statusCallback, NullIfEmpty(contentSid), NullIfEmpty(contentVariables)) is not { } text)
        {
            // Twilio's text quotes the number; the app must not log it (it logs only the code).
            return Error(400, 21610, $"Attempt to send to unsubscribed recipient {to}");
        }

        var created = text.At.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(new Dictionary<string, object?>
        {
            ["sid"] = text.Sid,
            ["account_sid"] = simulator.Settings.AccountSid,
            ["to"] = to,
            ["from"] = from,
            ["body"] = body,
            ["status"] = "queued",
            ["direction"] = "outbound-api",
            ["num_segments"] = "1",
            ["num_media"] = mediaCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["error_code"] = null,
            ["error_message"] = null,
            ["price"] = null,
            ["price_unit"] = "USD",
            ["api_version"] = "2010-04-01",
            ["date_created"] = created,
            ["date_updated"] = created,
            ["date_sent"] = null,
            ["messaging_service_sid"] = null,
            ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Messages/{text.Sid}.json",
        }, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateCallAsync(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
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

        var twiml = form["Twiml"].ToString();
        Uri? url = null;
        if (twiml.Length == 0 && !Uri.TryCreate(form["Url"].ToString(), UriKind.Absolute, out url))
        {
            return Error(400, 21205, "Url parameter is required and must be an absolute URL (or give Twiml).");
        }

        Uri? statusCallback = null;
        if (form["StatusCallback"].ToString() is { Length: > 0 } callback && !Uri.TryCreate(callback, UriKind.Absolute, out statusCallback))
        {
            return Error(400, 21609, "StatusCallback must be an absolute URL.");
        }

        var timeout = int.TryParse(form["Timeout"], out var seconds) ? Math.Clamp(seconds, 1, 600) : 60;
        var call = simulator.RegisterOutbound(to, from, new OutboundRequest
        {
            Url = url,
            Method = Method(form["Method"]),
            Twiml = twiml.Length == 0 ? null : twiml,
            StatusCallback = statusCallback,
            StatusCallbackMethod = Method(form["StatusCallbackMethod"]),
            // Repeated (StatusCallbackEvent=ringing&StatusCallbackEvent=answered) or space-separated.
            StatusCallbackEvents = [.. form["StatusCallbackEvent"].SelectMany(v => (v ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))],
            TimeoutSeconds = timeout,
        });
        return Results.Json(CallJson(call, simulator), statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> UpdateCallAsync(string accountSid, string callSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        if (simulator.FindCall(callSid) is not { } call)
        {
            return NotFound(request);
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        var status = form["Status"].ToString();
        var twiml = form["Twiml"].ToString();
        Fetch? redirect = null;
        if (twiml.Length > 0)
        {
            redirect = Fetch.Inline(twiml, "url");
        }
        else if (form["Url"].ToString() is { Length: > 0 } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var absolute))
            {
                return Error(400, 21205, "Url must be an absolute URL.");
            }

            redirect = new Fetch(absolute, Method(form["Method"]), "redirect", []);
        }

        if (status.Length > 0 && status is not ("completed" or "canceled"))
        {
            return Error(400, 21218, "Status must be 'completed' or 'canceled'.");
        }

        if (redirect is null && status.Length == 0)
        {
            return Error(400, 21205, "Give Url, Twiml or Status.");
        }

        if (redirect is not null && call.State == CallState.Completed)
        {
            return Error(400, 21220, "Call is not in-progress. Cannot redirect.");
        }

        simulator.RequestUpdate(call, redirect, status.Length > 0 ? status : null);
        return Results.Json(CallJson(call, simulator));
    }

    private static IResult FetchCall(string accountSid, string callSid, HttpRequest request, VoiceSimulator simulator)
    {
        if (Unauthorized(accountSid, request, simulator) is { } refusal)
        {
            return refusal;
        }

        return simulator.FindCall(callSid) is { } call ? Results.Json(CallJson(call, simulator)) : NotFound(request);
    }

    /// <summary>Basic auth with the Account SID and Auth Token, and the account in the path, as Twilio checks.</summary>
    private static IResult? Unauthorized(string accountSid, HttpRequest request, VoiceSimulator simulator)
    {
        var expected = Encoding.UTF8.GetBytes("Basic " + Convert.ToBase64String(
            Encoding.UTF8.GetBytes($"{simulator.Settings.AccountSid}:{simulator.Settings.AuthToken}")));
        var given = Encoding.UTF8.GetBytes(request.Headers.Authorization.ToString());
        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            request.HttpContext.Response.Headers.WWWAuthenticate = "Basic realm=\"Twilio API\"";
            return Error(401, 20003, "Authenticate");
        }

        return accountSid == simulator.Settings.AccountSid ? null : NotFound(request);
    }

    private static IResult NotFound(HttpRequest request) =>
        Error(404, 20404, $"The requested resource {request.Path.Value?[BasePath.Length..]} was not found");

    /// <summary>Twilio's error body: the REST client reads code and more_info from it.</summary>
    private static IResult Error(int status, int code, string message) =>
        Results.Json(new Dictionary<string, object>
        {
            ["code"] = code,
            ["message"] = message,
            ["more_info"] = $"https://www.twilio.com/docs/errors/{code}",
            ["status"] = status,
        }, statusCode: status);

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static bool IsJsonObjectOfStrings(string json)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.EnumerateObject().All(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.String);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static string Method(StringValues value) =>
        string.Equals(value.ToString(), "GET", StringComparison.OrdinalIgnoreCase) ? "GET" : "POST";

    /// <summary>The call resource in Twilio's JSON shape (snake_case).</summary>
    private static Dictionary<string, object?> CallJson(SimulatedCall call, VoiceSimulator simulator)
    {
        var created = simulator.UtcAt(call.StartedAt).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return new()
        {
            ["sid"] = call.Sid,
            ["account_sid"] = simulator.Settings.AccountSid,
            ["parent_call_sid"] = call.ParentCallSid,
            ["to"] = call.To,
            ["from"] = call.From,
            ["status"] = call.Status,
            ["direction"] = call.Direction,
            ["api_version"] = "2010-04-01",
            ["date_created"] = created,
            ["date_updated"] = created,
            ["start_time"] = call.AnsweredAt is { } answered ? simulator.UtcAt(answered).ToString("R", System.Globalization.CultureInfo.InvariantCulture) : null,
            ["end_time"] = call.EndedAt is { } ended ? simulator.UtcAt(ended).ToString("R", System.Globalization.CultureInfo.InvariantCulture) : null,
            ["duration"] = call.EndedAt is { } end && call.AnsweredAt is { } start ? ((int)Math.Ceiling((end - start).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
            ["price"] = null,
            ["price_unit"] = "USD",
            ["answered_by"] = null,
            ["queue_time"] = "0",
            ["uri"] = $"/2010-04-01/Accounts/{simulator.Settings.AccountSid}/Calls/{call.Sid}.json",
        };
    }
}
