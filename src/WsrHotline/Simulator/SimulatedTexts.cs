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

/// <summary>A media file attached to a worker's text (served by the simulator for the app to fetch).</summary>
public sealed record TextMedia(string ContentType, ReadOnlyMemory<byte> Content);

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
