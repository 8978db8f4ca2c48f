using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

/// <summary>
/// Sends the Twilio SDK's requests to <see cref="TwilioOptions.ApiBaseUrl"/>. The SDK always addresses
/// <c>https://api.twilio.com</c> (and builds a list's next page from its root-relative
/// <c>next_page_uri</c> the same way), so this handler swaps that scheme, host and port for the
/// configured base's, and puts the base's path in front (the simulator's stand-in lives under
/// <c>/simulator/twilio</c>). With the default base it changes nothing; any other host is left alone.
/// </summary>
public sealed class TwilioApiBaseHandler : DelegatingHandler
{
    /// <summary>The address the SDK sends every 2010-04-01 API request to.</summary>
    public static readonly Uri TwilioApiAddress = new("https://api.twilio.com/");

    private readonly string? apiBase;

    public TwilioApiBaseHandler(IOptions<TwilioOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configured = new Uri(options.Value.ApiBaseUrl.TrimEnd('/') + "/");
        apiBase = IsTwilioApi(configured) && configured.AbsolutePath == "/" ? null : configured.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (apiBase is not null && request.RequestUri is { } uri && IsTwilioApi(uri))
        {
            // PathAndQuery is still escaped, so a query value such as To=%2B1555… keeps its escaping.
            request.RequestUri = new Uri(apiBase + uri.PathAndQuery);
        }

        return base.SendAsync(request, cancellationToken);
    }

    private static bool IsTwilioApi(Uri uri) =>
        Uri.Compare(uri, TwilioApiAddress, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0;
}
