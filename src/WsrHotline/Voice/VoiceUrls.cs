using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using WsrHotline.Twilio;

namespace WsrHotline.Voice;

/// <summary>
/// Absolute URLs for TwiML actions and REST calls: the public address Twilio calls (configured behind
/// a proxy), else this request's own. Twilio signs exactly these URLs when it calls them back.
/// </summary>
public sealed class VoiceUrls(IOptions<TwilioOptions> twilio)
{
    public const string Prefix = "/twilio/voice";

    public string BaseUrl(HttpRequest request) =>
        string.IsNullOrEmpty(twilio.Value.PublicBaseUrl)
            ? $"{request.Scheme}://{request.Host}{request.PathBase}"
            : twilio.Value.PublicBaseUrl.TrimEnd('/');

    /// <summary><c>{base}/twilio/voice/{path}?name=value…</c>, values escaped; null values left out.</summary>
    public string For(HttpRequest request, string path, params (string Name, object? Value)[] query)
    {
        var url = new StringBuilder(BaseUrl(request)).Append(Prefix).Append('/').Append(path);
        var separator = '?';
        foreach (var (name, value) in query)
        {
            if (value is null)
            {
                continue;
            }
            url.Append(separator).Append(name).Append('=')
                .Append(Uri.EscapeDataString(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""));
            separator = '&';
        }
        return url.ToString();
    }

    /// <summary><see cref="For"/> as the <see cref="Uri"/> Twilio's TwiML classes take (written out as given).</summary>
    public Uri ForTwiml(HttpRequest request, string path, params (string Name, object? Value)[] query) =>
        new(For(request, path, query), UriKind.Absolute);

    public string AudioBase(HttpRequest request) => BaseUrl(request) + "/ivr-audio";
}
