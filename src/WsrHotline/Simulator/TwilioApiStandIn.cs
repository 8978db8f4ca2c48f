using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace WsrHotline.Simulator;

/// <summary>
/// Twilio's REST API for calls and messages, as far as the app uses it, under <c>/simulator/twilio</c>: point
/// <c>Twilio:ApiBaseUrl</c> at <c>{app}/simulator/twilio</c>. Handlers only register the work and
/// answer at once; the simulator acts on it after the app's current webhook has been answered.
/// </summary>
internal static class TwilioApiStandIn
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
    }

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
