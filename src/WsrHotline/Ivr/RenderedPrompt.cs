using WsrHotline.Twilio;

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
                SaySegment say => response.Say(say.Text, voice: say.Voice, language: say.Language),
                PlaySegment play => response.Play(play.Url),
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
                SaySegment say => gather.Say(say.Text, voice: say.Voice, language: say.Language),
                PlaySegment play => gather.Play(play.Url),
                _ => throw new InvalidOperationException($"Unknown prompt segment {segment.GetType().Name}."),
            };
        }

        return gather;
    }
}
