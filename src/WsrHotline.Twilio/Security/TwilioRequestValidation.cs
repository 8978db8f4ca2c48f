using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Twilio.Security;

namespace WsrHotline.Twilio;

/// <summary>
/// How the hotline asks Twilio's <see cref="RequestValidator"/> whether a webhook is Twilio's: the URL
/// Twilio signed and the parameters as the validator wants them. The signature itself is computed by the library.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Ports: the validator tries the URL as given and with the scheme's default port added, but never
/// with an explicit default port taken away. The URL is therefore handed to it without one, so a webhook
/// that Twilio's console has as <c>https://host/…</c> and one it has as <c>https://host:443/…</c> both
/// validate, whichever spelling <see cref="TwilioOptions.PublicBaseUrl"/> or the Host header uses.</item>
/// <item>Repeated names: Twilio signs every value of a name sent several times (name + value for each,
/// values in ordinal order). The validator takes one value per name and appends name + value, so the
/// values are handed to it joined by the name itself, which yields the same signed string.</item>
/// <item>Input the validator would throw on (no signature, a <c>bodySHA256</c> without a value, a URL it
/// cannot parse) is answered "not signed" here, never an exception: bad input must not get a 5xx.</item>
/// <item><see cref="RequestValidator"/> keeps hash objects that are not safe to share between threads,
/// so every check builds its own (a few microseconds).</item>
/// </list>
/// </remarks>
public static class TwilioRequestValidation
{
    public const string SignatureHeader = "X-Twilio-Signature";

    /// <summary>Query parameter Twilio adds to JSON webhooks: the lowercase hex SHA-256 of the body.</summary>
    public const string BodySha256Parameter = "bodySHA256";

    /// <summary>Whether a form-encoded (or GET) webhook carries Twilio's signature.</summary>
    /// <param name="url">The full URL Twilio called, query string included.</param>
    /// <param name="parameters">Every form parameter, repeated names included; empty for GET.</param>
    public static bool IsSigned(string authToken, string url, IEnumerable<KeyValuePair<string, string>> parameters, string? signature)
    {
        ArgumentException.ThrowIfNullOrEmpty(authToken);
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(parameters);
        if (string.IsNullOrEmpty(signature))
        {
            return false;
        }

        var joined = parameters
            .GroupBy(parameter => parameter.Key, StringComparer.Ordinal)
            .ToDictionary(
                group => group.Key,
                group => string.Join(group.Key, group.Select(parameter => parameter.Value ?? "").Order(StringComparer.Ordinal)),
                StringComparer.Ordinal);
        try
        {
            return new RequestValidator(authToken).Validate(WithoutDefaultPort(url), joined, signature);
        }
        catch (UriFormatException)
        {
            return false;
        }
    }

    /// <inheritdoc cref="IsSigned(string, string, IEnumerable{KeyValuePair{string, string}}, string?)"/>
    public static bool IsSigned(string authToken, string url, IEnumerable<KeyValuePair<string, StringValues>> form, string? signature)
    {
        ArgumentNullException.ThrowIfNull(form);
        return IsSigned(authToken, url, form.SelectMany(field => field.Value.Select(value => KeyValuePair.Create(field.Key, value ?? ""))), signature);
    }

    /// <summary>
    /// Whether a webhook with a raw (JSON) body carries Twilio's signature: the URL carries
    /// <c>bodySHA256</c>, the signature covers the URL alone, and the body's SHA-256 matches it. Twilio's
    /// JSON is UTF-8; a body that is not cannot match.
    /// </summary>
    public static bool IsSignedWithBody(string authToken, string url, ReadOnlySpan<byte> body, string? signature)
    {
        ArgumentException.ThrowIfNullOrEmpty(authToken);
        ArgumentNullException.ThrowIfNull(url);
        if (string.IsNullOrEmpty(signature) || !HasBodySha256(url) || QueryParts(url).Contains(BodySha256Parameter, StringComparer.Ordinal))
        {
            // The last: a bare "bodySHA256" with no "=" makes the validator throw; Twilio never sends one.
            return false;
        }

        try
        {
            return new RequestValidator(authToken).Validate(WithoutDefaultPort(url), Encoding.UTF8.GetString(body), signature);
        }
        catch (UriFormatException)
        {
            return false;
        }
    }

    /// <summary>Whether the URL carries Twilio's <c>bodySHA256</c> query parameter (a JSON webhook).</summary>
    public static bool HasBodySha256(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var queryStart = url.IndexOf('?', StringComparison.Ordinal);
        return queryStart >= 0 && QueryHelpers.ParseQuery(url[queryStart..]).ContainsKey(BodySha256Parameter);
    }

    /// <summary>
    /// <paramref name="url"/> without the port when it is the scheme's default (<c>:443</c> for https,
    /// <c>:80</c> for http); any other URL unchanged. Only the port is touched: scheme, host and path keep
    /// their spelling, which the signature covers.
    /// </summary>
    public static string WithoutDefaultPort(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return url;
        }

        var defaultPort = url[..schemeEnd].ToUpperInvariant() switch
        {
            "HTTPS" => ":443",
            "HTTP" => ":80",
            _ => null,
        };
        var authorityStart = schemeEnd + 3;
        var authorityEnd = url.IndexOfAny(['/', '?', '#'], authorityStart);
        if (authorityEnd < 0)
        {
            authorityEnd = url.Length;
        }

        // An IPv6 host ends with "]" before its port, so ":443" at the end is always the port.
        return defaultPort is not null && url.AsSpan(authorityStart, authorityEnd - authorityStart).EndsWith(defaultPort, StringComparison.Ordinal)
            ? url[..(authorityEnd - defaultPort.Length)] + url[authorityEnd..]
            : url;
    }

    private static string[] QueryParts(string url)
    {
        var queryStart = url.IndexOf('?', StringComparison.Ordinal);
        return queryStart < 0 ? [] : url[(queryStart + 1)..].Split('#')[0].Split('&');
    }
}
