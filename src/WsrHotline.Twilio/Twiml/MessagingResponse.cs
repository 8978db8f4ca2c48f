namespace WsrHotline.Twilio;

/// <summary>TwiML answering an incoming SMS, MMS or WhatsApp message.</summary>
public sealed class MessagingResponse : TwimlResponse
{
    /// <summary><c>&lt;Message&gt;</c>: sends a reply (to the sender unless <paramref name="to"/> is given).</summary>
    /// <param name="body">The text; may be null when only media is sent.</param>
    /// <param name="action">Requested with the reply's delivery status.</param>
    /// <param name="mediaUrls">Absolute URLs of images or files to attach (MMS / WhatsApp).</param>
    public MessagingResponse Message(
        string? body,
        string? to = null,
        string? from = null,
        string? action = null,
        string? method = null,
        IEnumerable<string>? mediaUrls = null)
    {
        var media = mediaUrls?.ToList() ?? [];

        // With media, Twilio wants the text in a nested <Body> next to the <Media> nouns.
        var message = new TwimlElement("Message", media.Count == 0 ? body : null)
            .Attribute("to", to)
            .Attribute("from", from)
            .Attribute("action", action)
            .Attribute("method", method);
        if (media.Count > 0)
        {
            if (body is not null)
            {
                message.Add(new TwimlElement("Body", body));
            }

            foreach (var url in media)
            {
                message.Add(new TwimlElement("Media", url));
            }
        }

        Append(message);
        return this;
    }

    /// <summary><c>&lt;Redirect&gt;</c>: continues with the TwiML at <paramref name="url"/>.</summary>
    public MessagingResponse Redirect(string url, string? method = null)
    {
        Append(new TwimlElement("Redirect", url).Attribute("method", method));
        return this;
    }
}
