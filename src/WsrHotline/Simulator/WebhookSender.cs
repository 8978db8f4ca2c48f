using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using WsrHotline.Twilio;

namespace WsrHotline.Simulator;

/// <summary>
/// Makes the requests Twilio makes: signed form posts (or GETs) to absolute URLs, and fetches of audio
/// for &lt;Play&gt;. URLs are signed as Twilio calls them (<see cref="VoiceSimulatorSettings.AppBaseUrl"/>)
/// and sent where the app listens (<see cref="VoiceSimulatorSettings.TransportBaseUrl"/>).
/// </summary>
internal sealed partial class WebhookSender(HttpClient httpClient, VoiceSimulatorSettings settings, VoiceSimulator simulator)
{
    /// <summary>Audio that is not a WAV file the simulator can measure is assumed to last this long.</summary>
    private static readonly TimeSpan UnknownAudioLength = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Uri, (int? Status, TimeSpan Length)> audio = new();

    /// <summary>An absolute URL on the app, as Twilio would call it.</summary>
    public Uri AppUrl(string pathOrUrl) => new(settings.AppBaseUrl, pathOrUrl);

    /// <summary>Where the app serves a recording made by the simulator; the app must be able to fetch it.</summary>
    public Uri RecordingUrl(string recordingSid) =>
        new(settings.TransportBaseUrl ?? settings.AppBaseUrl, $"/simulator/recordings/{recordingSid}");

    /// <summary>
    /// Where the app fetches an attachment of an inbound text: on the REST stand-in, as Twilio's are on
    /// its API (<c>…/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}</c>), behind Basic auth.
    /// </summary>
    public Uri MediaUrl(string messageSid, string mediaSid) =>
        new(settings.ApiBaseUrl ?? new Uri(settings.TransportBaseUrl ?? settings.AppBaseUrl, TwilioApiStandIn.BasePath + "/"),
            $"2010-04-01/Accounts/{settings.AccountSid}/Messages/{messageSid}/Media/{mediaSid}");

    /// <summary>A signed request recorded on <paramref name="call"/>'s transcript (none for a conference's own events).</summary>
    public async Task<(int Status, string Body)> SendAsync(
        SimulatedCall? call,
        Uri url,
        string method,
        IReadOnlyList<KeyValuePair<string, string>> parameters,
        string purpose)
    {
        var (status, body, calledUrl) = await SendCoreAsync(url, method, parameters, purpose);
        call?.Add(new WebhookCalled(simulator.Now, purpose, string.Equals(method, "GET", StringComparison.OrdinalIgnoreCase) ? "GET" : "POST", calledUrl, status));
        return (status, body);
    }

    /// <summary>A signed POST that belongs to no call (texts and their delivery reports).</summary>
    public async Task<(int Status, string Body)> PostAsync(Uri url, IReadOnlyList<KeyValuePair<string, string>> parameters, string purpose)
    {
        var (status, body, _) = await SendCoreAsync(url, "POST", parameters, purpose);
        return (status, body);
    }

    private async Task<(int Status, string Body, Uri CalledUrl)> SendCoreAsync(
        Uri url,
        string method,
        IReadOnlyList<KeyValuePair<string, string>> parameters,
        string purpose)
    {
        var isGet = string.Equals(method, "GET", StringComparison.OrdinalIgnoreCase);
        var calledUrl = isGet ? new Uri(QueryHelpers.AddQueryString(url.AbsoluteUri, parameters.Select(p => KeyValuePair.Create(p.Key, (string?)p.Value)))) : url;

        // Twilio signs the URL it called plus, for POST, the sorted form parameters.
        var signature = TwilioRequestSigner.Sign(settings.AuthToken, calledUrl.AbsoluteUri, isGet ? [] : parameters);
        if (simulator.TakeForgedSignature())
        {
            signature = Convert.ToBase64String(RandomNumberGenerator.GetBytes(20));
        }

        using var request = new HttpRequestMessage(isGet ? HttpMethod.Get : HttpMethod.Post, ToTransport(calledUrl));
        if (!isGet)
        {
            request.Content = new FormUrlEncodedContent(parameters);
        }

        request.Headers.TryAddWithoutValidation(TwilioRequestSigner.SignatureHeader, signature);
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("TwilioProxy", "1.1"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("*/*"));

        int status;
        string body;
        try
        {
            using var response = await httpClient.SendAsync(request);
            status = (int)response.StatusCode;
            body = await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException exception)
        {
            LogUnreachable(simulator.Logger, purpose, url.AbsolutePath, exception.GetType().Name);
            (status, body) = (0, "");
        }
        catch (TaskCanceledException exception)
        {
            // HttpClient's own timeout: Twilio gives up on a slow webhook too (after 15 s).
            LogUnreachable(simulator.Logger, purpose, url.AbsolutePath, exception.GetType().Name);
            (status, body) = (0, "");
        }

        if (status is < 200 or > 299)
        {
            // The path only: query strings and form values may hold phone numbers.
            LogWebhookFailed(simulator.Logger, purpose, url.AbsolutePath, status);
        }

        return (status, body, calledUrl);
    }

    /// <summary>
    /// Fetches a &lt;Play&gt; file on the app (other hosts are not reachable here) and measures WAV
    /// files; the result is cached like Twilio caches media.
    /// </summary>
    public async Task<(int? Status, TimeSpan Length)> FetchAudioAsync(Uri url)
    {
        if (audio.TryGetValue(url, out var known))
        {
            return known;
        }

        var appHost = Uri.Compare(url, settings.AppBaseUrl, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0
            || (settings.TransportBaseUrl is { } transport
                && Uri.Compare(url, transport, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0);
        if (!appHost)
        {
            return (null, UnknownAudioLength);
        }

        (int? Status, TimeSpan Length) result;
        try
        {
            using var response = await httpClient.GetAsync(ToTransport(url));
            var bytes = response.IsSuccessStatusCode ? await response.Content.ReadAsByteArrayAsync() : [];
            result = ((int)response.StatusCode, WavLength(bytes) ?? UnknownAudioLength);
        }
        catch (HttpRequestException)
        {
            result = (0, UnknownAudioLength);
        }

        audio[url] = result;
        return result;
    }

    private Uri ToTransport(Uri url)
    {
        if (settings.TransportBaseUrl is not { } transport
            || Uri.Compare(url, settings.AppBaseUrl, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
        {
            return url;
        }

        return new UriBuilder(url) { Scheme = transport.Scheme, Host = transport.Host, Port = transport.Port }.Uri;
    }

    /// <summary>Length of a PCM WAV file from its header: data size / byte rate.</summary>
    internal static TimeSpan? WavLength(ReadOnlySpan<byte> wav)
    {
        if (wav.Length < 44 || !wav[..4].SequenceEqual("RIFF"u8) || !wav[8..12].SequenceEqual("WAVE"u8))
        {
            return null;
        }

        var byteRate = BinaryPrimitives.ReadInt32LittleEndian(wav[28..32]);
        if (byteRate <= 0)
        {
            return null;
        }

        // Walk the chunks to "data"; its size may be larger than the file when streamed.
        for (var offset = 12; offset + 8 <= wav.Length;)
        {
            var size = BinaryPrimitives.ReadInt32LittleEndian(wav[(offset + 4)..(offset + 8)]);
            if (wav[offset..(offset + 4)].SequenceEqual("data"u8))
            {
                var dataBytes = Math.Min(size, wav.Length - offset - 8);
                return TimeSpan.FromSeconds((double)dataBytes / byteRate);
            }

            offset += 8 + Math.Max(0, size) + (size & 1);
        }

        return null;
    }

    [LoggerMessage(EventId = 7302, EventName = "SimulatorWebhookFailed", Level = LogLevel.Warning,
        Message = "Simulated Twilio request ({Purpose}) to {Path} got HTTP {StatusCode}")]
    private static partial void LogWebhookFailed(ILogger logger, string purpose, string path, int statusCode);

    [LoggerMessage(EventId = 7303, EventName = "SimulatorWebhookUnreachable", Level = LogLevel.Warning,
        Message = "Simulated Twilio request ({Purpose}) to {Path} failed: {ErrorType}")]
    private static partial void LogUnreachable(ILogger logger, string purpose, string path, string errorType);
}
