using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.Timeout;
using Twilio.Exceptions;

namespace WsrHotline.Twilio;

/// <summary>
/// Downloads a worker's attachment or a recording: the one Twilio request the SDK has no call for.
/// Registered as a typed <see cref="HttpClient"/> by <see cref="TwilioRestServiceCollectionExtensions.AddTwilioRestClient"/>,
/// with redirects off (followed here) and every connection checked by <see cref="MediaHosts.ConnectAsync"/>;
/// transient failures are retried by <see cref="TwilioRetries"/>.
/// </summary>
public sealed partial class TwilioMediaDownloader
{
    private const int MaxMediaRedirects = 5;

    private readonly HttpClient httpClient;
    private readonly TwilioOptions options;
    private readonly ILogger<TwilioMediaDownloader> logger;
    private readonly Uri apiBaseUri;
    private readonly AuthenticationHeaderValue credentials;
    private readonly MediaHosts mediaHosts;

    public TwilioMediaDownloader(HttpClient httpClient, IOptions<TwilioOptions> options, MediaHosts mediaHosts, ILogger<TwilioMediaDownloader> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.httpClient = httpClient;
        this.options = options.Value;
        this.mediaHosts = mediaHosts;
        this.logger = logger;
        apiBaseUri = new Uri(this.options.ApiBaseUrl.TrimEnd('/') + "/");
        var userAndPassword = Encoding.UTF8.GetBytes($"{this.options.AccountSid}:{this.options.AuthToken}");
        credentials = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(userAndPassword));
    }

    /// <summary>
    /// Downloads a media file. The URL and every redirect (at most <see cref="MaxMediaRedirects"/>)
    /// must be one <see cref="MediaHosts"/> allows, and the host must resolve to public addresses
    /// (checked at connect time): else <see cref="TwilioUrlRefusedException"/>, before any connection
    /// to it. Twilio credentials are sent only to the API host and to https <c>*.twilio.com</c> hosts,
    /// also when following redirects (Twilio redirects media to a CDN that must not receive them). A
    /// file longer than <paramref name="maxBytes"/> is not read past the limit: <see cref="MediaTooLargeException"/>.
    /// An error answer is an <see cref="ApiException"/> (status and Twilio code, no message text);
    /// an attempt that timed out, a <see cref="TimeoutException"/>.
    /// </summary>
    public async Task<MediaContent> DownloadAsync(Uri mediaUrl, long? maxBytes = null, CancellationToken cancellationToken = default)
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

            var sendCredentials = IsTwilioHost(url);
            if (!sendCredentials)
            {
                LogMediaCredentialsWithheld(logger, url.Host);
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Authorization = sendCredentials ? credentials : null;
            HttpResponseMessage sent;
            try
            {
                sent = await httpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            }
            catch (HttpRequestException ex) when (ex.InnerException is TwilioUrlRefusedException refused)
            {
                LogMediaUrlRefused(logger, redirects, refused.Reason);
                throw refused;
            }
            catch (TimeoutRejectedException ex)
            {
                throw new TimeoutException("The media download timed out.", ex);
            }

            using var response = sent;
            if (IsRedirect(response.StatusCode) && response.Headers.Location is { } location)
            {
                url = location.IsAbsoluteUri ? location : new Uri(url, location);
                continue;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw await CreateApiExceptionAsync(response, cancellationToken);
            }

            var content = await ReadLimitedAsync(response.Content, maxBytes ?? long.MaxValue, cancellationToken);
            var contentType = response.Content.Headers.ContentType?.ToString() ?? "application/octet-stream";
            return new MediaContent(content, contentType);
        }

        LogMediaUrlRefused(logger, MaxMediaRedirects + 1, "redirects");
        throw new TwilioUrlRefusedException("redirects");
    }

    /// <summary>Reads a body up to a limit, within <see cref="TwilioOptions.RequestTimeout"/> (a headers-read response's body is not covered by the client's timeout).</summary>
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

    private bool IsTwilioHost(Uri url)
    {
        var sameAsApi = Uri.Compare(url, apiBaseUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
        var twilioDomain = url.Scheme == Uri.UriSchemeHttps
            && (url.Host.Equals("twilio.com", StringComparison.OrdinalIgnoreCase)
                || url.Host.EndsWith(".twilio.com", StringComparison.OrdinalIgnoreCase));
        return sameAsApi || twilioDomain;
    }

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>
    /// The SDK's exception for an error answer, from Twilio's error body
    /// (<c>{"code":20404,"message":"…","more_info":"https://…","status":404}</c>) when there is one.
    /// Twilio's "message" is dropped: it may quote the address.
    /// </summary>
    private async Task<ApiException> CreateApiExceptionAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var code = 0;
        string? moreInfo = null;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                code = json.RootElement.TryGetProperty("code", out var value) && value.TryGetInt32(out var number) ? number : 0;
                moreInfo = json.RootElement.TryGetProperty("more_info", out var link) && link.ValueKind == JsonValueKind.String ? link.GetString() : null;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON (e.g. a proxy's HTML error page): the status code is all there is.
        }

        var status = (int)response.StatusCode;
        LogApiError(logger, "DownloadMedia", status, code == 0 ? null : code);
        return new ApiException(code, status, $"Twilio media download failed with HTTP {status}.", moreInfo);
    }

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

/// <summary>A downloaded media file (an MMS or WhatsApp attachment, or a recording).</summary>
public sealed class MediaContent(byte[] content, string contentType)
{
    public ReadOnlyMemory<byte> Content { get; } = content;

    public string ContentType { get; } = contentType;
}
