namespace WsrHotline.Pii;

/// <summary>
/// Keys that protect workers' phone numbers, names, words and recordings at rest (section <c>Pii</c>).
/// </summary>
public sealed class PiiOptions
{
    /// <summary>The key new values are encrypted with. Older keys stay in <see cref="Keys"/> to decrypt.</summary>
    public string ActiveKeyId { get; set; } = "";

    /// <summary>AES-256 keys by id, each 32 bytes in base64.</summary>
    public Dictionary<string, string> Keys { get; set; } = [];

    /// <summary>HMAC-SHA256 key (32 bytes, base64) for looking values up without decrypting them.</summary>
    public string LookupKey { get; set; } = "";

    /// <summary>
    /// Development only: where the local run keeps the keys it generated on first start
    /// (git-ignored). Ignored outside Development, where missing keys stop the app.
    /// </summary>
    public string? DevelopmentKeyFile { get; set; }

    internal static bool IsKey(string? base64)
    {
        if (string.IsNullOrEmpty(base64))
        {
            return false;
        }
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(base64, buffer, out var length) && length == 32;
    }
}
