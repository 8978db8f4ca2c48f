namespace WsrHotline.Intake;

/// <summary>
/// A caller's address as Twilio sends it (<c>+15555550100</c>, <c>whatsapp:+8801712345678</c>),
/// normalised to E.164. Withheld numbers are not numbers: Twilio sends "anonymous", "restricted",
/// "unknown" or one of its placeholder numbers, and none of them may become an identity.
/// </summary>
public static class CallerNumber
{
    private const string WhatsAppPrefix = "whatsapp:";

    // Twilio's documented stand-ins for a withheld caller ID (they spell ANONYMOUS, RESTRICTED, etc.
    // on a keypad); a call from one of them cannot be called back.
    private static readonly HashSet<string> WithheldPlaceholders = new(StringComparer.Ordinal)
    {
        "+266696687", "+7378742833", "+2562533", "+86282452253", "+8656696",
    };

    private static readonly HashSet<string> WithheldWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "anonymous", "restricted", "unknown", "private", "unavailable", "blocked",
    };

    public static bool IsWhatsApp(string? address) =>
        address is not null && address.StartsWith(WhatsAppPrefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>The E.164 number, or <c>null</c> when it is withheld, empty or not a phone number.</summary>
    public static string? Normalize(string? address)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            return null;
        }
        var value = address.Trim();
        if (IsWhatsApp(value))
        {
            value = value[WhatsAppPrefix.Length..];
        }
        if (WithheldWords.Contains(value))
        {
            return null;
        }

        Span<char> digits = stackalloc char[16];
        var count = 0;
        foreach (var c in value)
        {
            if (char.IsAsciiDigit(c))
            {
                if (count == digits.Length)
                {
                    return null;
                }
                digits[count++] = c;
            }
            else if (c is not ('+' or ' ' or '-' or '(' or ')' or '.'))
            {
                return null;
            }
        }
        if (count < 7 || count > 15 || digits[0] == '0')
        {
            return null;
        }
        var e164 = "+" + new string(digits[..count]);
        return WithheldPlaceholders.Contains(e164) ? null : e164;
    }
}
