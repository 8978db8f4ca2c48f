using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using WsrHotline.Pii;

namespace WsrHotline.Escalation;

/// <summary>
/// The signatures buyers check on our webhooks, and the tokens of their answer links.
/// Webhook: <c>X-WSR-Signature: v1=hex(HMAC-SHA256(secret, timestamp + "." + body))</c> with the
/// timestamp (Unix seconds) in <c>X-WSR-Timestamp</c> and the delivery id in <c>X-WSR-Delivery</c>
/// (the same on every retry of one delivery). The README has the buyer's verification recipe.
/// </summary>
public static class BuyerSignatures
{
    public const string TimestampHeader = "X-WSR-Timestamp";
    public const string SignatureHeader = "X-WSR-Signature";
    public const string DeliveryHeader = "X-WSR-Delivery";

    public static string Sign(string secret, long timestamp, string body) =>
        "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(
            Encoding.UTF8.GetBytes(secret),
            Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + "." + body)));

    /// <summary>What a buyer does (here for tests and as the reference): the signature matches and the
    /// timestamp is within the tolerance of their clock. Deduplicating by delivery id is theirs to keep.</summary>
    public static bool Verify(string secret, string timestampHeader, string signatureHeader, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (!long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp)
            || Math.Abs(now.ToUnixTimeSeconds() - timestamp) > tolerance.TotalSeconds)
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signatureHeader));
    }

    private const string AnswerLinkPurpose = "buyer.answer_link";

    /// <summary>
    /// The token of a buyer's answer link: its expiry and a keyed MAC of escalation id and expiry (the
    /// PII lookup key's HMAC, bound to this purpose: no extra secret to manage, the same on every instance).
    /// </summary>
    public static string AnswerToken(PiiProtector pii, long escalationId, DateTimeOffset expires)
    {
        var expiry = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return expiry + "." + Base64Url(pii.LookupHash(AnswerMessage(escalationId, expiry), AnswerLinkPurpose));
    }

    public static bool IsValidAnswerToken(PiiProtector pii, long escalationId, string? token, DateTimeOffset now)
    {
        if (token?.Split('.') is not [var expiry, var mac]
            || !long.TryParse(expiry, NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            || expires < now.ToUnixTimeSeconds())
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Base64Url(pii.LookupHash(AnswerMessage(escalationId, expiry), AnswerLinkPurpose)));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(mac));
    }

    private static string AnswerMessage(long escalationId, string expiry) =>
        escalationId.ToString(CultureInfo.InvariantCulture) + "." + expiry;

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
