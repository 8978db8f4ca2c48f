using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace WsrHotline.Pii;

/// <summary>What a protected value is; bound into the ciphertext so values cannot be swapped between columns.</summary>
public static class PiiPurpose
{
    public const string CallerPhone = "caller.phone";
    public const string CallerName = "caller.name";
    public const string MessageBody = "message.body";
    public const string RecordingUrl = "call.recording_url";
    public const string CaseNote = "case.note";
    public const string CallWrapUpNote = "call.wrap_up_note";
    public const string MediaUrl = "message.media_url";

    /// <summary>An inbound message waiting in the inbox: channel, sender, words and attachment addresses, as one value.</summary>
    public const string InboxPayload = "message.inbox";

    /// <summary>A media file's bytes, bound to its row: a file cannot be swapped onto another one.</summary>
    public static string MediaContent(long mediaId) =>
        "message.media/" + mediaId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A voicemail recording's audio, bound to its <c>voicemail_recordings</c> row.</summary>
    public static string RecordingContent(long recordingId) =>
        "call.recording/" + recordingId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Encrypts PII with AES-256-GCM and computes keyed lookup hashes. A stored value reads
/// <c>keyId:base64(nonce | ciphertext | tag)</c>, so keys can rotate: new values use the active key,
/// old ones still decrypt with theirs.
/// </summary>
public sealed class PiiProtector
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly string _activeKeyId;
    private readonly Dictionary<string, byte[]> _keys;
    private readonly byte[] _lookupKey;

    public PiiProtector(IOptions<PiiOptions> options)
    {
        var value = options.Value;
        _activeKeyId = value.ActiveKeyId;
        _keys = value.Keys.ToDictionary(pair => pair.Key, pair => Convert.FromBase64String(pair.Value), StringComparer.Ordinal);
        _lookupKey = Convert.FromBase64String(value.LookupKey);
    }

    public string Encrypt(string plaintext, string purpose)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var plainBytes = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceSize + plainBytes.Length + TagSize];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        var cipher = sealedBytes.AsSpan(NonceSize, plainBytes.Length);
        var tag = sealedBytes.AsSpan(NonceSize + plainBytes.Length, TagSize);
        RandomNumberGenerator.Fill(nonce);

        using var aes = new AesGcm(_keys[_activeKeyId], TagSize);
        aes.Encrypt(nonce, plainBytes, cipher, tag, Encoding.UTF8.GetBytes(purpose));
        return $"{_activeKeyId}:{Convert.ToBase64String(sealedBytes)}";
    }

    public string Decrypt(string stored, string purpose)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var separator = stored.LastIndexOf(':');
        if (separator <= 0)
        {
            throw new CryptographicException("A protected value must read keyId:ciphertext.");
        }
        var keyId = stored[..separator];
        if (!_keys.TryGetValue(keyId, out var key))
        {
            throw new CryptographicException($"No PII key with id '{keyId}' is configured (Pii:Keys).");
        }

        var sealedBytes = Convert.FromBase64String(stored[(separator + 1)..]);
        if (sealedBytes.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("A protected value is too short to be AES-GCM output.");
        }
        var cipherLength = sealedBytes.Length - NonceSize - TagSize;
        var plainBytes = new byte[cipherLength];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(
            sealedBytes.AsSpan(0, NonceSize),
            sealedBytes.AsSpan(NonceSize, cipherLength),
            sealedBytes.AsSpan(NonceSize + cipherLength, TagSize),
            plainBytes,
            Encoding.UTF8.GetBytes(purpose));
        return Encoding.UTF8.GetString(plainBytes);
    }

    /// <summary>
    /// Encrypts a file (a worker's photo or voice note) with the active key. The result reads
    /// <c>len(keyId) | keyId | nonce | ciphertext | tag</c> (one byte, UTF-8, 12, n, 16 bytes), so files
    /// written under an older key still decrypt once a new key is active.
    /// </summary>
    public byte[] EncryptBytes(ReadOnlySpan<byte> plaintext, string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        var keyId = Encoding.UTF8.GetBytes(_activeKeyId);
        if (keyId.Length > byte.MaxValue)
        {
            throw new CryptographicException("A PII key id must be at most 255 bytes long.");
        }
        var header = 1 + keyId.Length;
        var sealedBytes = new byte[header + NonceSize + plaintext.Length + TagSize];
        sealedBytes[0] = (byte)keyId.Length;
        keyId.CopyTo(sealedBytes.AsSpan(1));
        var nonce = sealedBytes.AsSpan(header, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_keys[_activeKeyId], TagSize);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(header + NonceSize, plaintext.Length),
            sealedBytes.AsSpan(header + NonceSize + plaintext.Length, TagSize), Encoding.UTF8.GetBytes(purpose));
        return sealedBytes;
    }

    /// <summary>Decrypts what <see cref="EncryptBytes"/> wrote; throws if it was altered or belongs to another purpose.</summary>
    public byte[] DecryptBytes(ReadOnlySpan<byte> stored, string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        if (stored.IsEmpty || stored.Length < 1 + stored[0] + NonceSize + TagSize)
        {
            throw new CryptographicException("Encrypted bytes are too short to be AES-GCM output.");
        }
        var header = 1 + stored[0];
        var keyId = Encoding.UTF8.GetString(stored[1..header]);
        if (!_keys.TryGetValue(keyId, out var key))
        {
            throw new CryptographicException($"No PII key with id '{keyId}' is configured (Pii:Keys).");
        }
        var cipherLength = stored.Length - header - NonceSize - TagSize;
        var plainBytes = new byte[cipherLength];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(stored.Slice(header, NonceSize), stored.Slice(header + NonceSize, cipherLength),
            stored.Slice(header + NonceSize + cipherLength, TagSize), plainBytes, Encoding.UTF8.GetBytes(purpose));
        return plainBytes;
    }

    /// <summary>A keyed hash to find a value (a caller's number) without storing or comparing it in clear.</summary>
    public byte[] LookupHash(string value, string purpose)
    {
        ArgumentNullException.ThrowIfNull(value);
        return HMACSHA256.HashData(_lookupKey, Encoding.UTF8.GetBytes($"{purpose}\n{value}"));
    }

    /// <summary>A short keyed hash for logs, where a value must be correlated but never shown.</summary>
    public string LogToken(string value, string purpose) => Convert.ToHexStringLower(LookupHash(value, purpose).AsSpan(0, 6));
}
