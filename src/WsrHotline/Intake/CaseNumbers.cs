using System.Security.Cryptography;

namespace WsrHotline.Intake;

/// <summary>
/// Case numbers: eight digits a worker can key in on any phone and hear read out digit by digit.
/// Seven random digits (not a sequence: a sequence would reveal how many complaints there are) and a
/// Luhn check digit, so a mistyped number is caught before a PIN is asked for.
/// </summary>
public static class CaseNumbers
{
    public const int Length = 8;

    public static string NewCaseNumber()
    {
        Span<char> digits = stackalloc char[Length];
        digits[0] = (char)('1' + RandomNumberGenerator.GetInt32(9));
        for (var i = 1; i < Length - 1; i++)
        {
            digits[i] = (char)('0' + RandomNumberGenerator.GetInt32(10));
        }
        digits[Length - 1] = (char)('0' + LuhnCheckDigit(digits[..^1]));
        return new string(digits);
    }

    public static bool IsWellFormed(string? candidate) =>
        candidate is { Length: Length }
        && candidate.All(char.IsAsciiDigit)
        && LuhnCheckDigit(candidate.AsSpan(0, Length - 1)) == candidate[^1] - '0';

    private static int LuhnCheckDigit(ReadOnlySpan<char> payload)
    {
        var sum = 0;
        var doubleIt = true;
        for (var i = payload.Length - 1; i >= 0; i--)
        {
            var digit = payload[i] - '0';
            if (doubleIt)
            {
                digit *= 2;
                if (digit > 9)
                {
                    digit -= 9;
                }
            }
            sum += digit;
            doubleIt = !doubleIt;
        }
        return (10 - (sum % 10)) % 10;
    }
}
