namespace WsrHotline.Twilio;

/// <summary>
/// TwiML for a voice call. Verbs run in the order they are added, e.g.
/// <code>new VoiceResponse().Say("Hola", voice: "Polly.Lupe", language: "es-US").Gather(new Gather { NumDigits = 1, Action = "/twilio/voice/menu" }).Hangup()</code>
/// URLs may be relative: Twilio resolves them against the URL of the request that returned this TwiML.
/// </summary>
public sealed class VoiceResponse : TwimlResponse
{
    /// <summary><c>&lt;Say&gt;</c>: reads <paramref name="text"/> aloud with text-to-speech.</summary>
    /// <param name="voice">e.g. <c>Polly.Lupe</c> or <c>Google.es-US-Neural2-A</c>.</param>
    /// <param name="language">e.g. <c>es-US</c>, <c>bn-IN</c>.</param>
    /// <param name="loop">How many times to repeat; 0 repeats until the call ends.</param>
    public VoiceResponse Say(string text, string? voice = null, string? language = null, int? loop = null)
    {
        Append(TwimlVerbs.Say(text, voice, language, loop));
        return this;
    }

    /// <summary><c>&lt;Play&gt;</c>: plays an audio file, or DTMF <paramref name="digits"/> (then omit the URL).</summary>
    public VoiceResponse Play(string? url = null, int? loop = null, string? digits = null)
    {
        Append(TwimlVerbs.Play(url, loop, digits));
        return this;
    }

    /// <summary><c>&lt;Pause&gt;</c>: silence for <paramref name="length"/> seconds (Twilio's default is 1).</summary>
    public VoiceResponse Pause(int? length = null)
    {
        Append(TwimlVerbs.Pause(length));
        return this;
    }

    /// <summary><c>&lt;Gather&gt;</c>: collects keypad digits or speech.</summary>
    public VoiceResponse Gather(Gather gather)
    {
        ArgumentNullException.ThrowIfNull(gather);
        Append(gather.ToElement());
        return this;
    }

    /// <summary><c>&lt;Dial&gt;</c>: connects the caller to numbers, clients or a queue.</summary>
    public VoiceResponse Dial(Dial dial)
    {
        ArgumentNullException.ThrowIfNull(dial);
        Append(dial.ToElement());
        return this;
    }

    /// <summary><c>&lt;Enqueue&gt;</c>: puts the caller into the named queue.</summary>
    /// <param name="waitUrl">TwiML (Play/Say/Pause…) that the caller hears while waiting.</param>
    /// <param name="action">Requested when the caller leaves the queue.</param>
    public VoiceResponse Enqueue(string queueName, string? waitUrl = null, string? action = null, string? method = null)
    {
        Append(new TwimlElement("Enqueue", queueName)
            .Attribute("action", action)
            .Attribute("method", method)
            .Attribute("waitUrl", waitUrl));
        return this;
    }

    /// <summary><c>&lt;Leave&gt;</c>: takes the caller out of the queue (used in a waitUrl document).</summary>
    public VoiceResponse Leave()
    {
        Append(new TwimlElement("Leave"));
        return this;
    }

    /// <summary><c>&lt;Record&gt;</c>: records the caller (e.g. a voicemail).</summary>
    public VoiceResponse Record(Record record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Append(record.ToElement());
        return this;
    }

    /// <summary><c>&lt;Redirect&gt;</c>: continues the call with the TwiML at <paramref name="url"/>.</summary>
    public VoiceResponse Redirect(string url, string? method = null)
    {
        Append(new TwimlElement("Redirect", url).Attribute("method", method));
        return this;
    }

    /// <summary><c>&lt;Hangup&gt;</c>: ends the call.</summary>
    public VoiceResponse Hangup()
    {
        Append(new TwimlElement("Hangup"));
        return this;
    }

    /// <summary><c>&lt;Reject&gt;</c>: refuses an incoming call without answering (no charge).</summary>
    /// <param name="reason"><c>rejected</c> (Twilio's default) or <c>busy</c>.</param>
    public VoiceResponse Reject(string? reason = null)
    {
        Append(new TwimlElement("Reject").Attribute("reason", reason));
        return this;
    }
}

/// <summary>Verbs that may appear both at the top level and inside <c>&lt;Gather&gt;</c>.</summary>
internal static class TwimlVerbs
{
    public static TwimlElement Say(string text, string? voice, string? language, int? loop) =>
        new TwimlElement("Say", text)
            .Attribute("voice", voice)
            .Attribute("language", language)
            .Attribute("loop", loop);

    public static TwimlElement Play(string? url, int? loop, string? digits) =>
        new TwimlElement("Play", url)
            .Attribute("loop", loop)
            .Attribute("digits", digits);

    public static TwimlElement Pause(int? length) =>
        new TwimlElement("Pause").Attribute("length", length);
}
