using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

/// <summary>
/// The few calls of Twilio's REST API (2010-04-01) this product makes: send messages, place and steer
/// calls, and download media. Registered as a typed HttpClient by
/// <see cref="TwilioServiceCollectionExtensions.AddTwilioProtocol"/>. Retries 429, 5xx, network errors
/// and timeouts with exponential backoff and jitter (a message only on 429 or when no connection was
/// made: it is sent at most once); other failures throw <see cref="TwilioApiException"/>.
/// </summary>
public sealed partial class TwilioRestClient
{
    private const int MaxMediaRedirects = 5;

    private readonly HttpClient httpClient;
    private readonly TwilioOptions options;
    private readonly ILogger<TwilioRestClient> logger;
    private readonly Uri apiBaseUri;
    private readonly AuthenticationHeaderValue credentials;
    private readonly MediaHosts mediaHosts;

    public TwilioRestClient(HttpClient httpClient, IOptions<TwilioOptions> options, ILogger<TwilioRestClient> logger)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        this.httpClient = httpClient;
        this.options = options.Value;
        this.logger = logger;
        apiBaseUri = httpClient.BaseAddress ?? new Uri(this.options.ApiBaseUrl.TrimEnd('/') + "/");
        var userAndPassword = Encoding.UTF8.GetBytes($"{this.options.AccountSid}:{this.options.AuthToken}");
        credentials = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(userAndPassword));
        mediaHosts = new MediaHosts(apiBaseUri, this.options.MediaAllowedHosts);
    }

    /// <summary>Sends an SMS, MMS or WhatsApp message (POST Messages.json).</summary>
    public async Task<MessageResource> SendMessageAsync(OutboundMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (string.IsNullOrEmpty(message.Body) && string.IsNullOrEmpty(message.ContentSid) && message.MediaUrls.Count == 0)
        {
            throw new ArgumentException("A message needs a Body, a ContentSid or at least one media URL.", nameof(message));
        }

        var form = new List<KeyValuePair<string, string>>();
        AddIfSet(form, "To", message.To);
        AddIfSet(form, "From", message.From);
        AddIfSet(form, "Body", message.Body);
        AddIfSet(form, "ContentSid", message.ContentSid);
        AddIfSet(form, "ContentVariables", message.ContentVariables);
        foreach (var mediaUrl in message.MediaUrls)
        {
            AddIfSet(form, "MediaUrl", mediaUrl.AbsoluteUri);
        }

        AddIfSet(form, "StatusCallback", message.StatusCallback?.AbsoluteUri);

        // Never repeated once it may have reached Twilio: a message is sent at most once.
        using var json = await PostFormAsync("CreateMessage", "Messages.json", form, cancellationToken, repeatable: false);
        var root = json.RootElement;
        return new MessageResource(GetString(root, "sid") ?? "", GetString(root, "status") ?? "", GetInt(root, "error_code"));
    }

    /// <summary>Places an outgoing call (POST Calls.json).</summary>
    public async Task<CallResource> CreateCallAsync(OutboundCall call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        if ((call.Url is null) == (call.Twiml is null))
        {
            throw new ArgumentException("Set exactly one of Url and Twiml.", nameof(call));
        }

        var form = new List<KeyValuePair<string, string>>();
        AddIfSet(form, "To", call.To);
        AddIfSet(form, "From", call.From);
        AddIfSet(form, "Url", call.Url?.AbsoluteUri);
        AddIfSet(form, "Twiml", call.Twiml);
        AddIfSet(form, "StatusCallback", call.StatusCallback?.AbsoluteUri);
        foreach (var statusEvent in call.StatusCallbackEvents)
        {
            AddIfSet(form, "StatusCallbackEvent", statusEvent);
        }

        AddIfSet(form, "Timeout", call.Timeout?.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using var json = await PostFormAsync("CreateCall", "Calls.json", form, cancellationToken);
        return ReadCall(json.RootElement);
    }

    /// <summary>Redirects a live call to new TwiML, or ends it (POST Calls/{CallSid}.json).</summary>
    public async Task<CallResource> UpdateCallAsync(string callSid, CallUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        // The SID becomes part of the URL path, so only letters and digits are allowed.
        if (string.IsNullOrEmpty(callSid) || !callSid.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("A call SID consists of letters and digits only.", nameof(callSid));
        }

        if (update.Url is null && update.Twiml is null && update.Status is null)
        {
            throw new ArgumentException("Set Url, Twiml or Status.", nameof(update));
        }

        var form = new List<KeyValuePair<string, string>>();
        AddIfSet(form, "Url", update.Url?.AbsoluteUri);
        AddIfSet(form, "Twiml", update.Twiml);
        AddIfSet(form, "Status", update.Status);

        using var json = await PostFormAsync("UpdateCall", $"Calls/{callSid}.json", form, cancellationToken);
        return ReadCall(json.RootElement);
    }

    /// <summary>Makes a live call continue with the TwiML at <paramref name="url"/>.</summary>
    public Task<CallResource> RedirectCallAsync(string callSid, Uri url, CancellationToken cancellationToken = default) =>
        UpdateCallAsync(callSid, new CallUpdate { Url = url }, cancellationToken);

    /// <summary>Hangs up a call in progress.</summary>
    public Task<CallResource> HangUpCallAsync(string callSid, CancellationToken cancellationToken = default) =>
        UpdateCallAsync(callSid, new CallUpdate { Status = "completed" }, cancellationToken);

    /// <summary>
    /// Downloads a media file. The URL and every redirect (at most <see cref="MaxMediaRedirects"/>)
    /// must be one <see cref="MediaHosts"/> allows, and the host must resolve to public addresses
    /// (checked at connect time): else <see cref="TwilioUrlRefusedException"/>, before any connection
    /// to it. Twilio credentials are sent only to the API host and to https <c>*.twilio.com</c> hosts,
    /// also when following redirects (Twilio redirects media to a CDN that must not receive them). A
    /// file longer than <paramref name="maxBytes"/> is not read past the limit: <see cref="MediaTooLargeException"/>.
    /// </summary>
    public async Task<MediaContent> DownloadMediaAsync(Uri mediaUrl, long? maxBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mediaUrl);
        var url = mediaUrl;
        for (var redirects = 0; redirects <= MaxMediaRedirects; redirects++)
        {
            if (mediaHosts.Refusal(url) is { } refusal)
            {
                LogMediaUrlRefused(logger, redirects, refusal);
                throw new TwilioUrlRefusedException(refusal);
            }

            var target = url;
            var sendCredentials = IsTwilioHost(target);
            if (!sendCredentials)
            {
                LogMediaCredentialsWithheld(logger, target.Host);
            }

            HttpResponseMessage sent;
            try
            {
                sent = await SendWithRetriesAsync(
                    "DownloadMedia",
                    () =>
                    {
                        var request = new HttpRequestMessage(HttpMethod.Get, target);
                        request.Headers.Authorization = sendCredentials ? credentials : null;
                        return request;
                    },
                    cancellationToken,
                    HttpCompletionOption.ResponseHeadersRead);
            }
            catch (HttpRequestException ex) when (ex.InnerException is TwilioUrlRefusedException refused)
            {
                LogMediaUrlRefused(logger, redirects, refused.Reason);
                throw refused;
            }

            using var response = sent;

            if (IsRedirect(response.StatusCode) && response.Headers.Location is { } location)
            {
                url = location.IsAbsoluteUri ? location : new Uri(target, location);
                continue;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw await CreateApiExceptionAsync("DownloadMedia", response, cancellationToken);
            }

            var content = await ReadLimitedAsync(response.Content, maxBytes ?? long.MaxValue, cancellationToken);
            var contentType = response.Content.Headers.ContentType?.ToString() ?? "application/octet-stream";
            return new MediaContent(content, contentType);
        }

        LogMediaUrlRefused(logger, MaxMediaRedirects + 1, "redirects");
        throw new TwilioUrlRefusedException("redirects");
    }

    /// <summary>Pages a list call follows at most (Twilio's pages hold up to 1,000 items: a million in all).</summary>
    private const int MaxListPages = 1000;

    /// <summary>
    /// Messages sent to <paramref name="to"/> in a window (GET Messages.json with <c>To</c>,
    /// <c>DateSent&gt;</c> and <c>DateSent&lt;</c>), every page (<c>next_page_uri</c>), oldest first.
    /// </summary>
    public async Task<IReadOnlyList<ListedMessage>> ListMessagesAsync(
        string to, DateTimeOffset sentAfter, DateTimeOffset sentBefore, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(to);
        var messages = new List<ListedMessage>();
        await ListAsync("ListMessages", "Messages.json",
            [KeyValuePair.Create("To", to), KeyValuePair.Create("DateSent>", Iso(sentAfter)), KeyValuePair.Create("DateSent<", Iso(sentBefore, roundUp: true))],
            "messages",
            item => messages.Add(new ListedMessage
            {
                Sid = GetString(item, "sid") ?? "",
                From = GetString(item, "from") ?? "",
                To = GetString(item, "to") ?? "",
                Body = GetString(item, "body") ?? "",
                Direction = GetString(item, "direction") ?? "",
                NumMedia = int.TryParse(GetString(item, "num_media"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
                    ? n : GetInt(item, "num_media") ?? 0,
                DateSent = GetDate(item, "date_sent") ?? GetDate(item, "date_created"),
            }),
            cancellationToken);
        return [.. messages.Where(m => m.Sid.Length > 0).OrderBy(m => m.DateSent ?? DateTimeOffset.MaxValue)];
    }

    /// <summary>A message's attachments (GET Messages/{Sid}/Media.json): each one's download URL (the resource's <c>uri</c> without <c>.json</c>).</summary>
    public async Task<IReadOnlyList<ListedMedia>> ListMessageMediaAsync(string messageSid, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(messageSid) || !messageSid.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("A message SID consists of letters and digits only.", nameof(messageSid));
        }

        var media = new List<ListedMedia>();
        await ListAsync("ListMessageMedia", $"Messages/{messageSid}/Media.json", [], "media_list", item =>
        {
            if (GetString(item, "sid") is { Length: > 0 } sid && ResourceUrl(GetString(item, "uri")) is { } url)
            {
                media.Add(new ListedMedia { Sid = sid, Url = url, ContentType = GetString(item, "content_type") ?? "" });
            }
        }, cancellationToken);
        return media;
    }

    /// <summary>Recordings created in a window (GET Recordings.json with <c>DateCreated&gt;</c> and <c>DateCreated&lt;</c>), every page, oldest first.</summary>
    public async Task<IReadOnlyList<ListedRecording>> ListRecordingsAsync(
        DateTimeOffset createdAfter, DateTimeOffset createdBefore, CancellationToken cancellationToken = default)
    {
        var recordings = new List<ListedRecording>();
        await ListAsync("ListRecordings", "Recordings.json",
            [KeyValuePair.Create("DateCreated>", Iso(createdAfter)), KeyValuePair.Create("DateCreated<", Iso(createdBefore, roundUp: true))],
            "recordings",
            item => recordings.Add(new ListedRecording
            {
                Sid = GetString(item, "sid") ?? "",
                CallSid = GetString(item, "call_sid") ?? "",
                DurationSeconds = int.TryParse(GetString(item, "duration"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var d)
                    ? d : GetInt(item, "duration"),
                DateCreated = GetDate(item, "date_created"),
                MediaUrl = GetString(item, "media_url") is { Length: > 0 } media && Uri.TryCreate(media, UriKind.Absolute, out var absolute)
                    ? absolute : ResourceUrl(GetString(item, "uri")),
            }),
            cancellationToken);
        return [.. recordings.Where(r => r.Sid.Length > 0 && r.CallSid.Length > 0).OrderBy(r => r.DateCreated ?? DateTimeOffset.MaxValue)];
    }

    /// <summary>GETs a list resource and each next page (<c>next_page_uri</c>, relative to the API's root), handing every item of <paramref name="listName"/> over.</summary>
    private async Task ListAsync(
        string operation, string accountRelativePath, IReadOnlyList<KeyValuePair<string, string>> query, string listName,
        Action<JsonElement> onItem, CancellationToken cancellationToken)
    {
        var queryString = string.Join('&', query.Append(KeyValuePair.Create("PageSize", "1000"))
            .Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value)));
        Uri? next = new(apiBaseUri, $"2010-04-01/Accounts/{Uri.EscapeDataString(options.AccountSid)}/{accountRelativePath}?{queryString}");
        for (var page = 0; next is not null; page++)
        {
            if (page >= MaxListPages)
            {
                throw new TwilioApiException($"Twilio API {operation} returned more than {MaxListPages} pages.");
            }

            var target = next;
            using var response = await SendWithRetriesAsync(operation, () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, target);
                request.Headers.Authorization = credentials;
                return request;
            }, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw await CreateApiExceptionAsync(operation, response, cancellationToken);
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            if (json.RootElement.TryGetProperty(listName, out var items) && items.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in items.EnumerateArray())
                {
                    onItem(item);
                }
            }

            next = ResourceUrl(GetString(json.RootElement, "next_page_uri"), keepJson: true);
        }
    }

    /// <summary>
    /// A resource's address from Twilio's root-relative <c>uri</c> (<c>/2010-04-01/…</c>), under the
    /// configured API base (so the simulator's stand-in serves it as Twilio would); a media resource's
    /// file is its <c>uri</c> without <c>.json</c>.
    /// </summary>
    private Uri? ResourceUrl(string? uri, bool keepJson = false)
    {
        if (string.IsNullOrEmpty(uri) || !uri.StartsWith("/2010-04-01/", StringComparison.Ordinal))
        {
            return null;
        }

        var path = uri.TrimStart('/');
        if (!keepJson)
        {
            var queryAt = path.IndexOf('?', StringComparison.Ordinal);
            path = queryAt < 0 ? path : path[..queryAt];
            path = path.EndsWith(".json", StringComparison.Ordinal) ? path[..^".json".Length] : path;
        }

        return new Uri(apiBaseUri, path);
    }

    /// <summary>A bound to the second, as Twilio takes it; an upper bound is rounded up so the window's last fraction of a second is not lost.</summary>
    private static string Iso(DateTimeOffset value, bool roundUp = false)
    {
        var ticks = value.UtcTicks;
        var seconds = roundUp ? (ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond : ticks / TimeSpan.TicksPerSecond;
        return new DateTime(seconds * TimeSpan.TicksPerSecond, DateTimeKind.Utc)
            .ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Twilio's dates are RFC 2822 (<c>Mon, 16 Aug 2010 03:45:01 +0000</c>).</summary>
    private static DateTimeOffset? GetDate(JsonElement root, string name) =>
        GetString(root, name) is { Length: > 0 } text
        && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var value)
            ? value
            : null;

    /// <summary>Reads a body up to a limit, within <see cref="TwilioOptions.RequestTimeout"/> (headers-read responses are not covered by the client's own timeout).</summary>
    private async Task<byte[]> ReadLimitedAsync(HttpContent content, long maxBytes, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength is { } declared && declared > maxBytes)
        {
            throw new MediaTooLargeException(maxBytes);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        await using var body = await content.ReadAsStreamAsync(timeout.Token);
        using var buffer = new MemoryStream((int)Math.Min(content.Headers.ContentLength ?? 81_920, Math.Min(maxBytes, int.MaxValue)));
        var chunk = new byte[81_920];
        int read;
        while ((read = await body.ReadAsync(chunk, timeout.Token)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw new MediaTooLargeException(maxBytes);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private async Task<JsonDocument> PostFormAsync(
        string operation,
        string accountRelativePath,
        List<KeyValuePair<string, string>> form,
        CancellationToken cancellationToken,
        bool repeatable = true)
    {
        var requestUri = new Uri(
            apiBaseUri,
            $"2010-04-01/Accounts/{Uri.EscapeDataString(options.AccountSid)}/{accountRelativePath}");

        // Note: retrying a POST after a 5xx or timeout can, rarely, place a call twice (a ringing phone
        // twice is a smaller harm than none). Messages are not repeatable: see SendMessageAsync.
        using var response = await SendWithRetriesAsync(
            operation,
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, requestUri) { Content = new FormUrlEncodedContent(form) };
                request.Headers.Authorization = credentials;
                return request;
            },
            cancellationToken,
            repeatable: repeatable);

        if (!response.IsSuccessStatusCode)
        {
            throw await CreateApiExceptionAsync(operation, response, cancellationToken);
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Sends a request, retrying 429, 5xx, network errors and timeouts up to <see cref="TwilioOptions.MaxAttempts"/>
    /// attempts in total. Returns the last response, successful or not; the caller disposes it.
    /// A request that is not <paramref name="repeatable"/> is tried again only when Twilio cannot have
    /// acted on it (429, or no connection made): see <see cref="ProvesNotTaken"/>.
    /// </summary>
    private async Task<HttpResponseMessage> SendWithRetriesAsync(
        string operation,
        Func<HttpRequestMessage> createRequest,
        CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead,
        bool repeatable = true)
    {
        var maxAttempts = Math.Max(1, options.MaxAttempts);
        for (var attempt = 1; ; attempt++)
        {
            // A request message can be sent only once, so every attempt gets a fresh one.
            using var request = createRequest();
            HttpResponseMessage response;
            try
            {
                response = await httpClient.SendAsync(request, completion, cancellationToken);
            }
            catch (Exception exception) when (attempt < maxAttempts && IsTransient(exception, cancellationToken)
                                              && (repeatable || ProvesNotTaken(exception)))
            {
                var delay = Backoff(attempt);
                LogRetryingAfterError(logger, operation, attempt, exception.GetType().Name, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, cancellationToken);
                continue;
            }

            if (attempt >= maxAttempts || !IsRetryable(response.StatusCode)
                || (!repeatable && response.StatusCode != HttpStatusCode.TooManyRequests))
            {
                return response;
            }

            var retryDelay = RetryAfter(response) ?? Backoff(attempt);
            LogRetryingAfterStatus(logger, operation, attempt, (int)response.StatusCode, (long)retryDelay.TotalMilliseconds);
            response.Dispose();
            await Task.Delay(retryDelay, cancellationToken);
        }
    }

    /// <summary>
    /// Whether a failed request certainly did not reach Twilio's application: Twilio answered with a
    /// 4xx (it refused the request), or no connection was made (name, connection or TLS failure, so no
    /// request was sent). A 5xx, a timeout or a connection lost mid-request may have been acted on.
    /// </summary>
    public static bool ProvesNotTaken(Exception exception) => exception switch
    {
        TwilioApiException api => api.HttpStatus is >= 400 and < 500,
        HttpRequestException http => http.HttpRequestError is HttpRequestError.NameResolutionError
            or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError,
        _ => false,
    };

    // HttpClient reports its own timeout as a TaskCanceledException while our token is still live.
    // A connection the media host check refused is not transient: trying again would be refused again.
    private static bool IsTransient(Exception exception, CancellationToken cancellationToken) =>
        exception is HttpRequestException { InnerException: not TwilioUrlRefusedException }
        || (exception is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    private static bool IsRetryable(HttpStatusCode status) =>
        status == HttpStatusCode.TooManyRequests || (int)status >= 500;

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>base × 2^(attempt−1) plus up to one base of random jitter, so many clients do not retry in step.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var exponential = options.RetryBaseDelay * Math.Pow(2, attempt - 1);
        var jitter = options.RetryBaseDelay * Random.Shared.NextDouble();
        return Cap(exponential + jitter);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return Cap(delta);
        }

        if (retryAfter?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return Cap(wait < TimeSpan.Zero ? TimeSpan.Zero : wait);
        }

        return null;
    }

    private TimeSpan Cap(TimeSpan delay) => delay > options.MaxRetryDelay ? options.MaxRetryDelay : delay;

    private bool IsTwilioHost(Uri url)
    {
        var sameAsApi = Uri.Compare(url, apiBaseUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
        var twilioDomain = url.Scheme == Uri.UriSchemeHttps
            && (url.Host.Equals("twilio.com", StringComparison.OrdinalIgnoreCase)
                || url.Host.EndsWith(".twilio.com", StringComparison.OrdinalIgnoreCase));
        return sameAsApi || twilioDomain;
    }

    private async Task<TwilioApiException> CreateApiExceptionAsync(
        string operation,
        HttpResponseMessage response,
        CancellationToken cancellationToken)
    {
        int? errorCode = null;
        string? moreInfo = null;
        try
        {
            // Twilio's error body: {"code":21610,"message":"…","more_info":"https://…","status":400}.
            // The "message" is deliberately dropped: it often quotes the phone number.
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            errorCode = GetInt(json.RootElement, "code");
            moreInfo = GetString(json.RootElement, "more_info");
        }
        catch (JsonException)
        {
            // Not JSON (e.g. a proxy's HTML error page): the status code is all there is.
        }

        var status = (int)response.StatusCode;
        LogApiError(logger, operation, status, errorCode);
        return new TwilioApiException(operation, status, errorCode, moreInfo);
    }

    private static CallResource ReadCall(JsonElement root) =>
        new(GetString(root, "sid") ?? "", GetString(root, "status") ?? "");

    private static void AddIfSet(List<KeyValuePair<string, string>> form, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            form.Add(KeyValuePair.Create(name, value));
        }
    }

    private static string? GetString(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty(name, out var value)
        && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static int? GetInt(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty(name, out var value)
        && value.ValueKind == JsonValueKind.Number
        && value.TryGetInt32(out var number)
            ? number
            : null;

    [LoggerMessage(EventId = 7201, EventName = "TwilioApiRetryingAfterStatus", Level = LogLevel.Warning,
        Message = "Twilio API {Operation} attempt {Attempt} got HTTP {StatusCode}; retrying in {DelayMs} ms")]
    private static partial void LogRetryingAfterStatus(ILogger logger, string operation, int attempt, int statusCode, long delayMs);

    [LoggerMessage(EventId = 7202, EventName = "TwilioApiRetryingAfterError", Level = LogLevel.Warning,
        Message = "Twilio API {Operation} attempt {Attempt} failed with {ErrorType}; retrying in {DelayMs} ms")]
    private static partial void LogRetryingAfterError(ILogger logger, string operation, int attempt, string errorType, long delayMs);

    [LoggerMessage(EventId = 7203, EventName = "TwilioApiError", Level = LogLevel.Warning,
        Message = "Twilio API {Operation} failed with HTTP {StatusCode}, Twilio error code {ErrorCode}")]
    private static partial void LogApiError(ILogger logger, string operation, int statusCode, int? errorCode);

    [LoggerMessage(EventId = 7204, EventName = "TwilioMediaCredentialsWithheld", Level = LogLevel.Debug,
        Message = "Downloading media from {Host} without Twilio credentials: not a Twilio host")]
    private static partial void LogMediaCredentialsWithheld(ILogger logger, string host);

    [LoggerMessage(EventId = 7205, EventName = "TwilioMediaUrlRefused", Level = LogLevel.Warning,
        Message = "Media download refused before connecting (after {Redirects} redirect(s)): {Reason} not allowed (Twilio:MediaAllowedHosts)")]
    private static partial void LogMediaUrlRefused(ILogger logger, int redirects, string reason);
}
