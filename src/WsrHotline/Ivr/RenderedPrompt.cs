using Twilio.TwiML;
using Gather = Twilio.TwiML.Voice.Gather;
using Play = Twilio.TwiML.Voice.Play;
using Say = Twilio.TwiML.Voice.Say;

namespace WsrHotline.Ivr;

/// <summary>One piece of a rendered prompt: text-to-speech or an audio file.</summary>
public abstract record PromptSegment;

/// <summary>Text for Twilio's &lt;Say&gt; (numbers already spelled out digit by digit).</summary>
public sealed record SaySegment(string Text, string Voice, string Language) : PromptSegment;

/// <summary>An absolute URL for Twilio's &lt;Play&gt;.</summary>
public sealed record PlaySegment(string Url) : PromptSegment;

/// <summary>
/// A prompt ready to be spoken: its <see cref="Segments"/> go into TwiML (<see cref="IvrTwimlExtensions"/>),
/// its <see cref="Text"/> (placeholders filled, numbers as written) into transcripts and the simulator.
/// </summary>
public sealed class RenderedPrompt(IReadOnlyList<PromptSegment> segments, string text)
{
    public IReadOnlyList<PromptSegment> Segments { get; } = segments;

    public string Text { get; } = text;

    /// <summary>Several prompts played one after the other.</summary>
    public static RenderedPrompt Join(IEnumerable<RenderedPrompt> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var list = prompts.ToList();
        return new RenderedPrompt(
            [.. list.SelectMany(prompt => prompt.Segments)],
            string.Join(' ', list.Select(prompt => prompt.Text).Where(text => text.Length > 0)));
    }

    public override string ToString() => Text;
}

/// <summary>Appends a <see cref="RenderedPrompt"/> to a voice response or a gather.</summary>
public static class IvrTwimlExtensions
{
    public static VoiceResponse AddPrompt(this VoiceResponse response, RenderedPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(prompt);
        foreach (var segment in prompt.Segments)
        {
            _ = segment switch
            {
                SaySegment say => response.Append(ToSay(say)),
                PlaySegment play => response.Append(ToPlay(play)),
                _ => throw new InvalidOperationException($"Unknown prompt segment {segment.GetType().Name}."),
            };
        }

        return response;
    }

    /// <summary>Inside a &lt;Gather&gt;, a key press interrupts the prompt (callers who know the menu skip it).</summary>
    public static Gather AddPrompt(this Gather gather, RenderedPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(gather);
        ArgumentNullException.ThrowIfNull(prompt);
        foreach (var segment in prompt.Segments)
        {
            _ = segment switch
            {
                SaySegment say => gather.Append(ToSay(say)),
                PlaySegment play => gather.Append(ToPlay(play)),
                _ => throw new InvalidOperationException($"Unknown prompt segment {segment.GetType().Name}."),
            };
        }

        return gather;
    }

    /// <summary>A voice or language left unset is left out, so that Twilio applies its default.</summary>
    private static Say ToSay(SaySegment say) => new(
        say.Text,
        voice: string.IsNullOrEmpty(say.Voice) ? null : (Say.VoiceEnum)say.Voice,
        language: string.IsNullOrEmpty(say.Language) ? null : (Say.LanguageEnum)say.Language);

    private static Play ToPlay(PlaySegment play) => new(new Uri(play.Url, UriKind.Absolute));
}
