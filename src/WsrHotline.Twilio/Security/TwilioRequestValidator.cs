using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace WsrHotline.Twilio;

/// <summary>
/// Checks that a webhook really comes from Twilio by recomputing its <c>X-Twilio-Signature</c>.
/// Same shape as the official SDK's <c>RequestValidator</c>, so it can be swapped for it.
/// </summary>
public sealed class TwilioRequestValidator
{
    private readonly string authToken;

    public TwilioRequestValidator(string authToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(authToken);
        this.authToken = authToken;
    }

    /// <summary>Validates a form-encoded (or GET) webhook.</summary>
    /// <param name="url">The full URL Twilio called, query string included.</param>
    /// <param name="parameters">Every form parameter, repeated names included; empty for GET.</param>
    /// <param name="signature">The <c>X-Twilio-Signature</c> header value; null or empty is invalid.</param>
    public bool Validate(string url, IEnumerable<KeyValuePair<string, string>> parameters, string? signature)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(parameters);
        if (string.IsNullOrEmpty(signature))
        {
            return false;
        }

        var parameterList = parameters.ToList();
        foreach (var candidate in UrlVariants(url))
        {
            // Each comparison takes the same time whatever the signature. Stopping at a match tells only
            // which spelling of the public URL Twilio signed; a forged signature is compared with every one.
            if (SignaturesEqual(TwilioRequestSigner.Sign(authToken, candidate, parameterList), signature))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Validates a webhook with a raw (JSON) body: the URL must carry <c>bodySHA256</c>, the signature
    /// covers the URL alone, and the body's SHA-256 must match that query parameter.
    /// </summary>
    public bool ValidateWithBody(string url, ReadOnlySpan<byte> body, string? signature)
    {
        ArgumentNullException.ThrowIfNull(url);
        var expectedHash = GetBodySha256(url);
        if (expectedHash is null)
        {
            return false;
        }

        var actualHash = TwilioRequestSigner.ComputeBodySha256(body);
        var bodyMatches = CryptographicOperations.FixedTimeEquals(
            Encoding.ASCII.GetBytes(actualHash),
            Encoding.ASCII.GetBytes(expectedHash.ToLowerInvariant()));
        var signatureMatches = Validate(url, [], signature);
        return bodyMatches && signatureMatches;
    }

    /// <inheritdoc cref="ValidateWithBody(string, ReadOnlySpan{byte}, string?)"/>
    public bool ValidateWithBody(string url, string body, string? signature) =>
        ValidateWithBody(url, Encoding.UTF8.GetBytes(body ?? ""), signature);

    /// <summary>Whether the URL carries Twilio's <c>bodySHA256</c> query parameter (JSON webhook).</summary>
    public static bool HasBodySha256(string url) => GetBodySha256(url) is not null;

    private static string? GetBodySha256(string url)
    {
        var queryStart = url.IndexOf('?', StringComparison.Ordinal);
        if (queryStart < 0)
        {
            return null;
        }

        var query = QueryHelpers.ParseQuery(url[queryStart..]);
        return query.TryGetValue(TwilioRequestSigner.BodySha256Parameter, out var value) ? value.ToString() : null;
    }

    private static bool SignaturesEqual(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(actual));

    /// <summary>
    /// The URL as given, plus the variant with the default port added (or removed, if it is there).
    /// Twilio's own libraries accept both because the port Twilio signs depends on how the webhook
    /// URL was typed in the console, while proxies and frameworks may add or drop it.
    /// A non-default port is never touched.
    /// </summary>
    internal static IEnumerable<string> UrlVariants(string url)
    {
        yield return url;

        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            yield break;
        }

        var defaultPort = url[..schemeEnd].ToUpperInvariant() switch
        {
            "HTTPS" => "443",
            "HTTP" => "80",
            _ => null,
        };
        if (defaultPort is null)
        {
            yield break;
        }

        var authorityStart = schemeEnd + 3;
        var authorityEnd = url.IndexOfAny(['/', '?', '#'], authorityStart);
        if (authorityEnd < 0)
        {
            authorityEnd = url.Length;
        }

        // Skip any user:password@ prefix and IPv6 brackets when looking for ":port".
        var authority = url[authorityStart..authorityEnd];
        var hostStart = authority.LastIndexOf('@') + 1;
        var portSeparator = authority.LastIndexOf(':');
        var hasPort = portSeparator >= hostStart && portSeparator > authority.LastIndexOf(']');

        if (!hasPort)
        {
            yield return url[..authorityEnd] + ":" + defaultPort + url[authorityEnd..];
        }
        else if (authority[(portSeparator + 1)..] == defaultPort)
        {
            yield return url[..(authorityStart + portSeparator)] + url[authorityEnd..];
        }
    }
}
