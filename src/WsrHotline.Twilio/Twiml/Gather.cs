namespace WsrHotline.Twilio;

/// <summary>
/// <c>&lt;Gather&gt;</c>: collects digits or speech, then requests <see cref="Action"/> with them.
/// Prompts added with <see cref="Say"/>, <see cref="Play"/> and <see cref="Pause"/> are interrupted as
/// soon as the caller presses a key.
/// </summary>
public sealed class Gather
{
    private readonly List<TwimlElement> prompts = [];

    /// <summary><c>dtmf</c> (Twilio's default), <c>speech</c>, or <c>dtmf speech</c>.</summary>
    public string? Input { get; init; }

    public int? NumDigits { get; init; }

    /// <summary>Seconds of silence before Twilio gives up waiting.</summary>
    public int? Timeout { get; init; }

    public string? FinishOnKey { get; init; }

    public string? Action { get; init; }

    public string? Method { get; init; }

    /// <summary>Speech recognition language, e.g. <c>es-US</c>.</summary>
    public string? Language { get; init; }

    /// <summary>Request <see cref="Action"/> even when nothing was entered.</summary>
    public bool? ActionOnEmptyResult { get; init; }

    public Gather Say(string text, string? voice = null, string? language = null, int? loop = null)
    {
        prompts.Add(TwimlVerbs.Say(text, voice, language, loop));
        return this;
    }

    public Gather Play(string? url = null, int? loop = null, string? digits = null)
    {
        prompts.Add(TwimlVerbs.Play(url, loop, digits));
        return this;
    }

    public Gather Pause(int? length = null)
    {
        prompts.Add(TwimlVerbs.Pause(length));
        return this;
    }

    internal TwimlElement ToElement()
    {
        var element = new TwimlElement("Gather")
            .Attribute("input", Input)
            .Attribute("numDigits", NumDigits)
            .Attribute("timeout", Timeout)
            .Attribute("finishOnKey", FinishOnKey)
            .Attribute("action", Action)
            .Attribute("method", Method)
            .Attribute("language", Language)
            .Attribute("actionOnEmptyResult", ActionOnEmptyResult);
        foreach (var prompt in prompts)
        {
            element.Add(prompt);
        }

        return element;
    }
}
