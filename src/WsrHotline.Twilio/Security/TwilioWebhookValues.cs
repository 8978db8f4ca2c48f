using Microsoft.Extensions.Primitives;

namespace WsrHotline.Twilio;

/// <summary>
/// What a genuine Twilio webhook can hold, field by field, so that a request holding what none can is
/// refused (400) before the app reads it, stores it or spools it. Only the impossible is refused: a
/// genuine request that is merely odd (Digits "hangup", an unknown status word, a sender that is not a
/// phone number) reaches the app, which handles it; refusing it would hang up on a caller or lose a text.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A NUL (U+0000), in any name or value of the form or the query, except <c>Body</c>: PostgreSQL
/// text and jsonb cannot hold it (SQLSTATE 22021), so a call, message or status carrying one could never
/// be stored, and a spooled one would fail its replay forever. Twilio does not send one. <c>Body</c>, the
/// worker's own words, is stored only encrypted, where a NUL does no harm, and is never refused.</item>
/// <item>A SID (every field named <c>…Sid</c>: CallSid, MessageSid, RecordingSid, AccountSid, ParentCallSid,
/// DialCallSid, QueueSid…): Twilio's are two capital letters and 32 hex digits. Refused: longer than 34
/// characters, or any character that is not an ASCII letter or digit. Shorter ones pass (the phone
/// simulator and the tests use short readable SIDs; a short SID cannot break anything).</item>
/// <item>A status word (CallStatus, DialCallStatus, MessageStatus, SmsStatus, RecordingStatus,
/// QueueResult): Twilio's are short lowercase words with <c>-</c> or <c>_</c> ("no-answer",
/// "partially_delivered"). Refused: longer than 32 characters, or any character but ASCII letters,
/// digits, <c>-</c> and <c>_</c>. Unknown words pass (Twilio adds statuses; the app ranks what it knows).</item>
/// <item>A SID or status field given twice: Twilio sends each once (ASP.NET Core would join the two
/// with a comma, and the app would store "CA1,CA2" as one call).</item>
/// </list>
/// Everything else (Digits, From, To, URLs, numbers, names) is the app's to judge: Digits may be "hangup",
/// a From may be "client:…" or "Anonymous", a URL is checked where it is used.
/// </remarks>
public static class TwilioWebhookValues
{
    public const int MaxSidLength = 34;

    public const int MaxStatusLength = 32;

    private static readonly HashSet<string> StatusFields = new(StringComparer.Ordinal)
    {
        "CallStatus", "DialCallStatus", "MessageStatus", "SmsStatus", "RecordingStatus", "QueueResult",
    };

    /// <summary>
    /// The name of the first field (form, then query) that no genuine Twilio request could hold, or null
    /// when every field could be genuine. The name is safe to log; the value never is.
    /// </summary>
    public static string? FindImpossible(IEnumerable<KeyValuePair<string, StringValues>> form, IEnumerable<KeyValuePair<string, StringValues>> query)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(query);
        foreach (var (name, values) in form.Concat(query))
        {
            if (name.Contains('\0', StringComparison.Ordinal)
                || (values.Count > 1 && IsIdentifierOrStatus(name))
                || values.Any(value => !CouldBeGenuine(name, value ?? "")))
            {
                // Twilio's names are short ASCII words; any other name could be anything, a number even.
                return name.Length <= 40 && name.All(char.IsAsciiLetterOrDigit) ? name : "(a name that is not Twilio's)";
            }
        }
        return null;
    }

    /// <summary>A SID or status field: Twilio sends each once, and the app reads one value of it.</summary>
    public static bool IsIdentifierOrStatus(string name) =>
        name is not null && (name.EndsWith("Sid", StringComparison.Ordinal) || StatusFields.Contains(name));

    /// <summary>Whether <paramref name="value"/> could be what Twilio sends in the field <paramref name="name"/>.</summary>
    public static bool CouldBeGenuine(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.EndsWith("Sid", StringComparison.Ordinal))
        {
            return value.Length <= MaxSidLength && value.All(char.IsAsciiLetterOrDigit);
        }
        if (StatusFields.Contains(name))
        {
            return value.Length <= MaxStatusLength && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
        }
        return name == "Body" || !value.Contains('\0', StringComparison.Ordinal);
    }
}
