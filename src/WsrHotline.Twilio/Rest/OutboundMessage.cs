namespace WsrHotline.Twilio;

// The request types below are classes, not records, on purpose: a record's generated ToString would
// print phone numbers and message text into any log line that formats one.

/// <summary>A message to send with <see cref="TwilioRestClient.SendMessageAsync"/>.</summary>
public sealed class OutboundMessage
{
    /// <summary>E.164 number, or <c>whatsapp:+…</c> for WhatsApp.</summary>
    public required string To { get; init; }

    /// <summary>A Twilio SMS number, or the <c>whatsapp:+…</c> sender.</summary>
    public required string From { get; init; }

    /// <summary>Free-form text. For WhatsApp only allowed within 24 hours of the user's last message.</summary>
    public string? Body { get; init; }

    /// <summary>Content template SID ("HX…"), used instead of <see cref="Body"/> (WhatsApp templates).</summary>
    public string? ContentSid { get; init; }

    /// <summary>JSON object of template variables, e.g. <c>{"1":"Maria"}</c>.</summary>
    public string? ContentVariables { get; init; }

    public IReadOnlyList<Uri> MediaUrls { get; init; } = [];

    /// <summary>Twilio posts delivery status changes here.</summary>
    public Uri? StatusCallback { get; init; }
}

/// <summary>An outgoing call to place with <see cref="TwilioRestClient.CreateCallAsync"/>. Set exactly one of <see cref="Url"/> and <see cref="Twiml"/>.</summary>
public sealed class OutboundCall
{
    public required string To { get; init; }

    public required string From { get; init; }

    /// <summary>Twilio fetches the call's TwiML from here once it is answered.</summary>
    public Uri? Url { get; init; }

    /// <summary>Inline TwiML, e.g. <c>new VoiceResponse().Say("…").ToXml()</c>.</summary>
    public string? Twiml { get; init; }

    public Uri? StatusCallback { get; init; }

    /// <summary>Any of <c>initiated</c>, <c>ringing</c>, <c>answered</c>, <c>completed</c>.</summary>
    public IReadOnlyList<string> StatusCallbackEvents { get; init; } = [];

    /// <summary>Seconds to let the phone ring before giving up.</summary>
    public int? Timeout { get; init; }
}

/// <summary>Changes to a live call for <see cref="TwilioRestClient.UpdateCallAsync"/>: new TwiML (<see cref="Url"/> or <see cref="Twiml"/>) or a new <see cref="Status"/>.</summary>
public sealed class CallUpdate
{
    public Uri? Url { get; init; }

    public string? Twiml { get; init; }

    /// <summary><c>completed</c> hangs up a call in progress; <c>canceled</c> one still ringing.</summary>
    public string? Status { get; init; }
}

/// <summary>The message Twilio created. <see cref="Status"/> is usually <c>queued</c> or <c>accepted</c>.</summary>
public sealed record MessageResource(string Sid, string Status, int? ErrorCode);

/// <summary>A call as Twilio reports it after a create or update.</summary>
public sealed record CallResource(string Sid, string Status);

/// <summary>A downloaded media file (an MMS or WhatsApp attachment, or a recording).</summary>
public sealed class MediaContent(byte[] content, string contentType)
{
    public ReadOnlyMemory<byte> Content { get; } = content;

    public string ContentType { get; } = contentType;
}
