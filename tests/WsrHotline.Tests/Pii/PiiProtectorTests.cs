using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using WsrHotline.Pii;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Pii;

public sealed class PiiProtectorTests
{
    private static PiiProtector Protector(string activeKeyId, params (string Id, string Key)[] keys) =>
        new(Options.Create(new PiiOptions
        {
            ActiveKeyId = activeKeyId,
            Keys = keys.ToDictionary(k => k.Id, k => k.Key),
            LookupKey = TestKeys.PiiLookupKey,
        }));

    private static readonly string OtherKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Theory]
    [InlineData("+15555550123")]
    [InlineData("Rosa Martínez Quispe")]
    [InlineData("রহিমা আক্তার")]
    [InlineData("")]
    public void Round_trips_and_never_contains_the_clear_value(string value)
    {
        var protector = Protector(TestKeys.PiiKeyId, (TestKeys.PiiKeyId, TestKeys.PiiKey));

        var stored = protector.Encrypt(value, PiiPurpose.CallerName);

        Assert.StartsWith(TestKeys.PiiKeyId + ":", stored, StringComparison.Ordinal);
        if (value.Length > 0)
        {
            Assert.DoesNotContain(value, stored, StringComparison.Ordinal);
        }
        Assert.Equal(value, protector.Decrypt(stored, PiiPurpose.CallerName));
    }

    [Fact]
    public void The_same_number_encrypts_differently_each_time_but_looks_up_the_same()
    {
        var protector = Protector(TestKeys.PiiKeyId, (TestKeys.PiiKeyId, TestKeys.PiiKey));

        Assert.NotEqual(protector.Encrypt("+15555550123", PiiPurpose.CallerPhone), protector.Encrypt("+15555550123", PiiPurpose.CallerPhone));
        Assert.Equal(protector.LookupHash("+15555550123", PiiPurpose.CallerPhone), protector.LookupHash("+15555550123", PiiPurpose.CallerPhone));
        Assert.NotEqual(protector.LookupHash("+15555550123", PiiPurpose.CallerPhone), protector.LookupHash("+15555550124", PiiPurpose.CallerPhone));
    }

    [Fact]
    public void A_value_cannot_be_moved_to_another_purpose_or_tampered_with()
    {
        var protector = Protector(TestKeys.PiiKeyId, (TestKeys.PiiKeyId, TestKeys.PiiKey));
        var stored = protector.Encrypt("+15555550123", PiiPurpose.CallerPhone);
        var bytes = Convert.FromBase64String(stored[(stored.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        bytes[^1] ^= 1;
        var tampered = $"{TestKeys.PiiKeyId}:{Convert.ToBase64String(bytes)}";

        Assert.ThrowsAny<CryptographicException>(() => protector.Decrypt(stored, PiiPurpose.MessageBody));
        Assert.ThrowsAny<CryptographicException>(() => protector.Decrypt(tampered, PiiPurpose.CallerPhone));
    }

    [Fact]
    public void Rotating_keys_keeps_old_values_readable_and_encrypts_new_ones_with_the_new_key()
    {
        var before = Protector("2026-01", ("2026-01", TestKeys.PiiKey));
        var old = before.Encrypt("+15555550123", PiiPurpose.CallerPhone);

        var after = Protector("2026-07", ("2026-01", TestKeys.PiiKey), ("2026-07", OtherKey));

        Assert.Equal("+15555550123", after.Decrypt(old, PiiPurpose.CallerPhone));
        Assert.StartsWith("2026-07:", after.Encrypt("+15555550123", PiiPurpose.CallerPhone), StringComparison.Ordinal);
        var retired = Protector("2026-07", ("2026-07", OtherKey));
        var error = Assert.ThrowsAny<CryptographicException>(() => retired.Decrypt(old, PiiPurpose.CallerPhone));
        Assert.Contains("2026-01", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_round_trips_under_a_rotated_key_and_cannot_move_to_another_row_or_be_altered()
    {
        var photo = RandomNumberGenerator.GetBytes(70_000);
        var before = Protector("2026-01", ("2026-01", TestKeys.PiiKey));
        var stored = before.EncryptBytes(photo, PiiPurpose.MediaContent(7));

        Assert.Equal((byte)"2026-01".Length, stored[0]);
        Assert.Equal(photo.Length + 1 + 7 + 12 + 16, stored.Length);
        Assert.False(stored.AsSpan().IndexOf(photo.AsSpan(0, 64)) >= 0, "the clear bytes are in the stored ones");

        var after = Protector("2026-07", ("2026-01", TestKeys.PiiKey), ("2026-07", OtherKey));
        Assert.Equal(photo, after.DecryptBytes(stored, PiiPurpose.MediaContent(7)));
        Assert.Equal("2026-07"u8.ToArray(), after.EncryptBytes(photo, PiiPurpose.MediaContent(8))[1..8]);

        Assert.ThrowsAny<CryptographicException>(() => after.DecryptBytes(stored, PiiPurpose.MediaContent(8)));
        stored[^20] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => after.DecryptBytes(stored, PiiPurpose.MediaContent(7)));
        Assert.ThrowsAny<CryptographicException>(() => after.DecryptBytes([3, 1, 2], PiiPurpose.MediaContent(7)));
    }
}
