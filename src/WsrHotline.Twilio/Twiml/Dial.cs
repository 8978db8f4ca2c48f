namespace WsrHotline.Twilio;

/// <summary>
/// <c>&lt;Dial&gt;</c>: connects the caller to one or more <see cref="Number"/>s or <see cref="Client"/>s
/// (the first to answer wins), or to a <see cref="Queue"/>.
/// </summary>
public sealed class Dial
{
    private readonly List<TwimlElement> targets = [];

    /// <summary>Requested when the dialled party hangs up or does not answer; the call continues with its TwiML.</summary>
    public string? Action { get; init; }

    public string? Method { get; init; }

    /// <summary>Seconds to let the other side ring.</summary>
    public int? Timeout { get; init; }

    /// <summary>The number shown to the dialled party; must be a Twilio number or verified caller id.</summary>
    public string? CallerId { get; init; }

    /// <summary>Keep the caller hearing ringing (not silence) until the other side answers.</summary>
    public bool? AnswerOnBridge { get; init; }

    /// <summary>e.g. <c>do-not-record</c>, <c>record-from-answer</c>, <c>record-from-answer-dual</c>.</summary>
    public string? Record { get; init; }

    /// <summary>Country code of the ringback tone, e.g. <c>us</c>, <c>mx</c>.</summary>
    public string? RingTone { get; init; }

    /// <summary>Adds a phone number to dial.</summary>
    /// <param name="url">TwiML run for the answering party before connecting (call screening, e.g. "press 1 to accept").</param>
    /// <param name="statusCallbackEvents">Any of <c>initiated</c>, <c>ringing</c>, <c>answered</c>, <c>completed</c>.</param>
    public Dial Number(
        string phoneNumber,
        string? url = null,
        string? method = null,
        string? statusCallback = null,
        IEnumerable<string>? statusCallbackEvents = null)
    {
        targets.Add(new TwimlElement("Number", phoneNumber)
            .Attribute("url", url)
            .Attribute("method", method)
            .Attribute("statusCallback", statusCallback)
            .Attribute("statusCallbackEvent", statusCallbackEvents is null ? null : string.Join(' ', statusCallbackEvents)));
        return this;
    }

    /// <summary>Adds a Twilio Client (browser or app) identity to dial.</summary>
    public Dial Client(string identity, string? url = null, string? method = null)
    {
        targets.Add(new TwimlElement("Client", identity)
            .Attribute("url", url)
            .Attribute("method", method));
        return this;
    }

    /// <summary>Connects to the first caller waiting in the named queue.</summary>
    /// <param name="url">TwiML played to the dequeued caller before connecting.</param>
    public Dial Queue(string queueName, string? url = null, string? method = null)
    {
        targets.Add(new TwimlElement("Queue", queueName)
            .Attribute("url", url)
            .Attribute("method", method));
        return this;
    }

    internal TwimlElement ToElement()
    {
        var element = new TwimlElement("Dial")
            .Attribute("action", Action)
            .Attribute("method", Method)
            .Attribute("timeout", Timeout)
            .Attribute("callerId", CallerId)
            .Attribute("answerOnBridge", AnswerOnBridge)
            .Attribute("record", Record)
            .Attribute("ringTone", RingTone);
        foreach (var target in targets)
        {
            element.Add(target);
        }

        return element;
    }
}
