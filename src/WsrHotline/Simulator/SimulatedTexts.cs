namespace WsrHotline.Simulator;

/// <summary>The two messaging channels the hotline answers on.</summary>
public static class TextChannels
{
    public const string Sms = "sms";
    public const string WhatsApp = "whatsapp";

    /// <summary>The channel of a Twilio address: <c>whatsapp:+…</c> is WhatsApp, anything else SMS.</summary>
    public static string Of(string address) =>
        address.StartsWith("whatsapp:", StringComparison.OrdinalIgnoreCase) ? WhatsApp : Sms;

    /// <summary>The phone number without the channel prefix.</summary>
    public static string Number(string address) =>
        address.StartsWith("whatsapp:", StringComparison.OrdinalIgnoreCase) ? address["whatsapp:".Length..] : address;

    /// <summary>How Twilio writes the worker's address on this channel.</summary>
    public static string Address(string number, string channel) => channel == WhatsApp ? "whatsapp:" + number : number;
}

/// <summary>What happens to the texts the app sends to a number.</summary>
public enum TextOutcome
{
    /// <summary>Reported sent, then delivered.</summary>
    Delivered,

    /// <summary>Reported sent, then undelivered with the error code (the carrier could not reach the phone, 30003).</summary>
    Undelivered,

    /// <summary>Reported failed with the error code (e.g. 30008).</summary>
    Failed,

    /// <summary>The create itself is refused: HTTP 400 with error 21610 (the worker replied STOP to the carrier).</summary>
    OptedOut,
}

/// <summary>A number's configured fate for texts sent to it.</summary>
public sealed record TextDelivery(TextOutcome Outcome, int? ErrorCode = null)
{
    public static TextDelivery Delivered { get; } = new(TextOutcome.Delivered);

    public static TextDelivery OptedOut { get; } = new(TextOutcome.OptedOut, 21610);

    public static TextDelivery Undelivered(int errorCode = 30003) => new(TextOutcome.Undelivered, errorCode);

    public static TextDelivery Failed(int errorCode = 30008) => new(TextOutcome.Failed, errorCode);
}

/// <summary>A media file attached to a worker's text (served by the REST stand-in for the app to fetch).</summary>
public sealed record TextMedia(string ContentType, ReadOnlyMemory<byte> Content)
{
    /// <summary>How many downloads fail before the file is served (<see cref="int.MaxValue"/>: it never is).</summary>
    public int FailFirst { get; init; }

    /// <summary>The HTTP status of those failed downloads (500; 404 as for a file Twilio has deleted).</summary>
    public int FailStatus { get; init; } = 500;

    /// <summary>
    /// Where the stand-in redirects a download of the file (302), as Twilio redirects its media URLs to
    /// its CDN; null serves the file itself. The app follows a redirect only to an allowed media host.
    /// </summary>
    public Uri? RedirectTo { get; init; }

    /// <summary>A photo: a few bytes with a JPEG header (not a picture anyone can see).</summary>
    public static TextMedia Photo(int size = 2_000) => new("image/jpeg", Sample(size, 0xFF, 0xD8, 0xFF, 0xE0));

    /// <summary>A WhatsApp voice note: Ogg/Opus, as WhatsApp sends them.</summary>
    public static TextMedia VoiceNote(int size = 4_000) => new("audio/ogg", Sample(size, (byte)'O', (byte)'g', (byte)'g', (byte)'S'));

    /// <summary>A PDF document.</summary>
    public static TextMedia Pdf(int size = 3_000) => new("application/pdf", Sample(size, (byte)'%', (byte)'P', (byte)'D', (byte)'F'));

    private static byte[] Sample(int size, params byte[] header)
    {
        var bytes = new byte[Math.Max(size, header.Length)];
        header.CopyTo(bytes, 0);
        for (var i = header.Length; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i * 31 % 251);
        }

        return bytes;
    }
}

/// <summary>
/// One text as the worker's phone shows it. <see cref="FromPhone"/>: the worker sent it to the hotline;
/// otherwise the hotline sent it (a reply), with its delivery status.
/// </summary>
public sealed class SimulatedText
{
    internal SimulatedText(string sid, bool fromPhone, string body, DateTimeOffset at, int mediaCount)
    {
        Sid = sid;
        FromPhone = fromPhone;
        Body = body;
        At = at;
        MediaCount = mediaCount;
    }

    public string Sid { get; }

    public bool FromPhone { get; }

    public string Body { get; }

    public DateTimeOffset At { get; }

    public int MediaCount { get; }

    /// <summary>A reply sent as an approved template (WhatsApp outside the 24-hour window): its ContentSid and ContentVariables.</summary>
    public string? ContentSid { get; internal init; }

    public string? ContentVariables { get; internal init; }

    /// <summary>A worker's text: where the simulator serves its attachments (the MediaUrl{N} the app got).</summary>
    public IReadOnlyList<Uri> MediaUrls { get; internal set; } = [];

    /// <summary>A reply: queued, sent, delivered, undelivered or failed. A worker's text: the HTTP status the app answered ("received", or "http 503").</summary>
    public string Status { get; internal set; } = "queued";

    public int? ErrorCode { get; internal set; }
}

/// <summary>A worker's phone on one channel: the conversation as the phone shows it.</summary>
public sealed class TextThread(string number, string channel)
{
    private readonly List<SimulatedText> texts = [];

    public string Number { get; } = number;

    public string Channel { get; } = channel;

    /// <summary>Oldest first, a snapshot.</summary>
    public IReadOnlyList<SimulatedText> Texts
    {
        get
        {
            lock (texts)
            {
                return [.. texts];
            }
        }
    }

    /// <summary>Only what the hotline sent to the phone, oldest first.</summary>
    public IReadOnlyList<SimulatedText> Received => [.. Texts.Where(t => !t.FromPhone)];

    internal void Add(SimulatedText text)
    {
        lock (texts)
        {
            texts.Add(text);
        }
    }
}

/// <summary>What the app answered to an inbound text's webhook.</summary>
public sealed record TextSent(string MessageSid, int HttpStatus, string Body);
