namespace WsrHotline.Twilio;

// Classes, not records: a record's ToString would print numbers and words into a log line.

/// <summary>A message as Twilio's Messages list gives it (<see cref="TwilioRestClient.ListMessagesAsync"/>).</summary>
public sealed class ListedMessage
{
    public required string Sid { get; init; }

    /// <summary>E.164, or <c>whatsapp:+…</c>.</summary>
    public required string From { get; init; }

    public required string To { get; init; }

    public string Body { get; init; } = "";

    /// <summary><c>inbound</c> for a message sent to one of the account's numbers; <c>outbound-api</c>, <c>outbound-reply</c>… otherwise.</summary>
    public required string Direction { get; init; }

    public int NumMedia { get; init; }

    public DateTimeOffset? DateSent { get; init; }
}

/// <summary>One attachment of a message (<see cref="TwilioRestClient.ListMessageMediaAsync"/>): its URL is where the file is downloaded.</summary>
public sealed class ListedMedia
{
    public required string Sid { get; init; }

    public required Uri Url { get; init; }

    public string ContentType { get; init; } = "";
}

/// <summary>A recording as Twilio's Recordings list gives it (<see cref="TwilioRestClient.ListRecordingsAsync"/>).</summary>
public sealed class ListedRecording
{
    public required string Sid { get; init; }

    public required string CallSid { get; init; }

    public int? DurationSeconds { get; init; }

    public DateTimeOffset? DateCreated { get; init; }

    /// <summary>Where the audio is (Twilio's <c>media_url</c>, else the resource's <c>uri</c> without <c>.json</c>).</summary>
    public Uri? MediaUrl { get; init; }
}
