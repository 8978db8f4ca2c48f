using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using WsrHotline.Twilio;

namespace WsrHotline.Simulator;

/// <summary>
/// Computes <c>X-Twilio-Signature</c> values exactly as Twilio does, so the phone simulator and tests
/// can send webhooks that are indistinguishable from Twilio's. Twilio's library only validates (the
/// hotline checks with its <c>RequestValidator</c>), so this side of the protocol is the simulator's own.
/// </summary>
public static class TwilioRequestSigner
{
    public const string SignatureHeader = TwilioRequestValidation.SignatureHeader;

    /// <inheritdoc cref="TwilioRequestValidation.BodySha256Parameter"/>
    public const string BodySha256Parameter = TwilioRequestValidation.BodySha256Parameter;

    /// <summary>
    /// base64(HMAC-SHA1(authToken, url + name1 + value1 + name2 + value2 …)) with the POST parameters
    /// sorted by name, then by value (a name sent several times contributes every value).
    /// </summary>
    /// <param name="url">The full URL Twilio called, query string included, exactly as configured in Twilio.</param>
    /// <param name="parameters">The form (POST) parameters; none for GET requests and JSON bodies.</param>
    [SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms",
        Justification = "HMAC-SHA1 is what Twilio's signature protocol mandates.")]
    public static string Sign(string authToken, string url, IEnumerable<KeyValuePair<string, string>>? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(authToken);
        ArgumentNullException.ThrowIfNull(url);

        var data = new StringBuilder(url);
        if (parameters is not null)
        {
            var sorted = parameters
                .OrderBy(p => p.Key, StringComparer.Ordinal)
                .ThenBy(p => p.Value, StringComparer.Ordinal);
            foreach (var (name, value) in sorted)
            {
                data.Append(name).Append(value);
            }
        }

        var mac = HMACSHA1.HashData(Encoding.UTF8.GetBytes(authToken), Encoding.UTF8.GetBytes(data.ToString()));
        return Convert.ToBase64String(mac);
    }

    /// <summary>Lowercase hex SHA-256 of a raw request body, as Twilio puts it in <c>bodySHA256</c>.</summary>
    public static string ComputeBodySha256(ReadOnlySpan<byte> body) => Convert.ToHexStringLower(SHA256.HashData(body));

    /// <inheritdoc cref="ComputeBodySha256(ReadOnlySpan{byte})"/>
    public static string ComputeBodySha256(string body) => ComputeBodySha256(Encoding.UTF8.GetBytes(body));

    /// <summary>
    /// Appends <c>bodySHA256=…</c> to <paramref name="url"/> the way Twilio does for JSON webhooks;
    /// sign the returned URL with no parameters.
    /// </summary>
    public static string AppendBodySha256(string url, string body)
    {
        ArgumentNullException.ThrowIfNull(url);
        var separator = url.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return $"{url}{separator}{BodySha256Parameter}={ComputeBodySha256(body)}";
    }
}
