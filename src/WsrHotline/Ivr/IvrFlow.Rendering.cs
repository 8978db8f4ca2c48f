using System.Text.RegularExpressions;

namespace WsrHotline.Ivr;

public sealed partial class IvrFlow
{
    /// <summary>
    /// One prompt in one language, placeholders filled. <c>{digit}</c> and <c>{language}</c> are the
    /// language's own unless <paramref name="values"/> says otherwise; numbers (<c>{case_number}</c>,
    /// <c>{pin}</c>, <c>{digit}</c>) are read digit by digit: "1, 2, 3" for a voice (so 12345678 is
    /// not read as "twelve million…"), one digit file after another in an audio-only language.
    /// </summary>
    /// <param name="audioBaseUrl">Absolute URL the <c>/ivr-audio</c> endpoint answers on, e.g. <c>https://hotline.example.org/ivr-audio</c>.</param>
    /// <exception cref="ArgumentException">Unknown language or prompt, a placeholder without a value, or a number with a non-digit.</exception>
    public RenderedPrompt Render(string languageCode, string promptKey, IReadOnlyDictionary<string, string>? values, string audioBaseUrl)
    {
        var language = FindLanguage(languageCode)
            ?? throw new ArgumentException($"The IVR flow has no language '{languageCode}'.", nameof(languageCode));
        var prompt = language.Prompts.GetValueOrDefault(promptKey)
            ?? throw new ArgumentException($"Language '{languageCode}' has no prompt '{promptKey}'.", nameof(promptKey));

        string ValueOf(string name)
        {
            if (values is not null && values.TryGetValue(name, out var value))
            {
                if (IvrPlaceholders.IsDigits(name) && (value.Length == 0 || !value.All(char.IsAsciiDigit)))
                {
                    throw new ArgumentException($"{{{name}}} must be digits only (prompt '{promptKey}').", nameof(values));
                }

                return value;
            }

            return name switch
            {
                IvrPlaceholders.Digit => language.Digit,
                IvrPlaceholders.Language => language.NativeName,
                _ => throw new ArgumentException($"Prompt '{promptKey}' needs a value for {{{name}}}.", nameof(values)),
            };
        }

        var text = Fill(prompt.Text, ValueOf);
        var segments = new List<PromptSegment>();
        if (prompt.Audio.Count == 0)
        {
            var spoken = Fill(prompt.Text, name => IvrPlaceholders.IsDigits(name) ? SpellDigits(ValueOf(name)) : ValueOf(name));
            segments.Add(new SaySegment(spoken, language.SayVoice!, language.SayLanguage!));
        }
        else
        {
            foreach (var part in prompt.Audio)
            {
                var placeholder = PlaceholderName(part);
                if (placeholder is null)
                {
                    segments.Add(new PlaySegment(AudioUrl(part, audioBaseUrl)));
                }
                else if (language.IsAudioOnly)
                {
                    segments.AddRange(ValueOf(placeholder).Select(digit =>
                        new PlaySegment(AudioUrl(IvrFlowLoader.DigitFile(language.Code, digit), audioBaseUrl))));
                }
                else
                {
                    // A human recording in a language with a voice: the voice reads the number.
                    segments.Add(new SaySegment(SpellDigits(ValueOf(placeholder)), language.SayVoice!, language.SayLanguage!));
                }
            }
        }

        return new RenderedPrompt(segments, text);
    }

    /// <summary>
    /// A prompt's text for a text message (SMS, WhatsApp): placeholders filled as written, numbers
    /// as plain digits. Any prompt has text, so the voice status texts serve messages too.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown language or prompt, or a placeholder without a value.</exception>
    public string RenderText(string languageCode, string promptKey, IReadOnlyDictionary<string, string>? values = null)
    {
        var language = FindLanguage(languageCode)
            ?? throw new ArgumentException($"The IVR flow has no language '{languageCode}'.", nameof(languageCode));
        var prompt = language.Prompts.GetValueOrDefault(promptKey)
            ?? throw new ArgumentException($"Language '{languageCode}' has no prompt '{promptKey}'.", nameof(promptKey));
        return Fill(prompt.Text, name => values is not null && values.TryGetValue(name, out var value)
            ? value
            : name switch
            {
                IvrPlaceholders.Digit => language.Digit,
                IvrPlaceholders.Language => language.NativeName,
                _ => throw new ArgumentException($"Prompt '{promptKey}' needs a value for {{{name}}}.", nameof(values)),
            });
    }

    /// <summary>Several prompts in one language, in order (a step's <see cref="IvrStep.Prompts"/> or <see cref="IvrStep.HoldPrompts"/>).</summary>
    public RenderedPrompt Render(string languageCode, IReadOnlyList<string> promptKeys, IReadOnlyDictionary<string, string>? values, string audioBaseUrl)
    {
        ArgumentNullException.ThrowIfNull(promptKeys);
        return RenderedPrompt.Join(promptKeys.Select(key => Render(languageCode, key, values, audioBaseUrl)));
    }

    /// <summary>
    /// The language menu: for every language in order, the step's prompts and then
    /// <c>language_option</c> ("For English, press 1"), each in that language's own voice or recordings,
    /// so every caller hears their language before having to understand another.
    /// </summary>
    public RenderedPrompt RenderLanguageMenu(IvrStep step, string audioBaseUrl)
    {
        ArgumentNullException.ThrowIfNull(step);
        return RenderedPrompt.Join(Languages.Select(language =>
            Render(language.Code, [.. step.Prompts, IvrPromptKeys.LanguageOption], null, audioBaseUrl)));
    }

    /// <summary>"12345678" → "1, 2, 3, 4, 5, 6, 7, 8": text-to-speech pauses at each comma.</summary>
    private static string SpellDigits(string digits) => string.Join(", ", digits.ToCharArray());

    private static string Fill(string template, Func<string, string> valueOf) =>
        PlaceholderPattern().Replace(template, match => valueOf(match.Groups[1].Value));

    /// <summary>The name in an audio segment written <c>{name}</c>; null for a file path.</summary>
    internal static string? PlaceholderName(string audioSegment) =>
        audioSegment.StartsWith('{') && audioSegment.EndsWith('}') ? audioSegment[1..^1] : null;

    /// <summary><c>{name}</c> with a lowercase name; the loader refuses any other braces.</summary>
    [GeneratedRegex(@"\{([a-z_]+)\}")]
    internal static partial Regex PlaceholderPattern();
}
