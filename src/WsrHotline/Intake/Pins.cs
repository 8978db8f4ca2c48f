using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace WsrHotline.Intake;

/// <summary>
/// The PIN that goes with a case number: four digits, easy to key in and to remember, stored only as a
/// salted PBKDF2 hash. Four digits are guessable offline, which is why the phone and SMS checks lock a
/// case after three wrong tries; the hash keeps a stolen database from listing the PINs outright.
/// </summary>
public static class Pins
{
    private const int Iterations = 20_000;
    private const int SaltSize = 16;
    private const int HashSize = 32;

    public static string NewPin() =>
        RandomNumberGenerator.GetInt32(10_000).ToString("D4", CultureInfo.InvariantCulture);

    public static string Hash(string pin)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(pin), salt, Iterations, HashAlgorithmName.SHA256, HashSize);
        return $"pbkdf2-sha256${Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string pin, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256"
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations))
        {
            return false;
        }
        var salt = Convert.FromBase64String(parts[2]);
        var expected = Convert.FromBase64String(parts[3]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(pin), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }
}
