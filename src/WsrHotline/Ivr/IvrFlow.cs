namespace WsrHotline.Ivr;

/// <summary>What a step does; the voice webhooks implement each.</summary>
public enum IvrStepType
{
    LanguageMenu,
    Say,
    Menu,
    Route,
    Voicemail,
    Readout,
    StatusCheck,
    Hangup,
}

/// <summary>One language a caller can choose at the language menu.</summary>
/// <param name="Name">English name, for staff.</param>
/// <param name="NativeName">The language's own name: spoken as <c>{language}</c>.</param>
/// <param name="SayVoice">Twilio &lt;Say&gt; voice; null for a language whose prompts are all audio.</param>
public sealed record IvrLanguage(
    string Code,
    string Digit,
    string Name,
    string NativeName,
    string? SayVoice,
    string? SayLanguage,
    IReadOnlyDictionary<string, IvrPrompt> Prompts)
{
    /// <summary>No text-to-speech voice: every prompt plays recordings, numbers play digit files.</summary>
    public bool IsAudioOnly => SayVoice is null;
}

/// <summary>One prompt in one language.</summary>
/// <param name="Text">What is said, with placeholders; always present (transcripts, simulator).</param>
/// <param name="Audio">
/// Empty for text-to-speech; otherwise what is played, in order: file paths relative to the flows
/// folder (<c>audio/ht/greeting.wav</c>) and placeholders (<c>{case_number}</c>).
/// </param>
public sealed record IvrPrompt(string Key, string Text, IReadOnlyList<string> Audio);

/// <summary>One step of the call. Fields a type does not use are empty or null.</summary>
public sealed record IvrStep(
    string Id,
    IvrStepType Type,
    IReadOnlyList<string> Prompts,
    string? Next,
    IReadOnlyDictionary<string, string> Options,
    string? Default,
    int MaxAttempts,
    IReadOnlyList<string> HoldPrompts,
    string? OnNoAnswer,
    int? MaxLengthSeconds);

/// <summary>
/// A validated IVR flow (from <see cref="IvrFlowLoader.Load"/>): every step it names exists, and
/// every language has every prompt, so lookups by a step's or <see cref="IvrPromptKeys"/>' names succeed.
/// Immutable: a reload builds a new one.
/// </summary>
public sealed partial class IvrFlow
{
    private readonly Dictionary<string, IvrLanguage> languagesByCode;

    // Relative path (audio/ht/greeting.wav) → short content hash, for cache-busting URLs; also the
    // list of the only files the audio endpoint serves.
    private readonly IReadOnlyDictionary<string, string> audioVersions;

    internal IvrFlow(
        string directory,
        IReadOnlyList<IvrLanguage> languages,
        string defaultLanguage,
        string startStep,
        IReadOnlyDictionary<string, IvrStep> steps,
        IReadOnlyDictionary<string, string> audioVersions)
    {
        Directory = directory;
        Languages = languages;
        languagesByCode = languages.ToDictionary(language => language.Code, StringComparer.Ordinal);
        DefaultLanguage = languagesByCode[defaultLanguage];
        Steps = steps;
        StartStep = steps[startStep];
        this.audioVersions = audioVersions;
    }

    /// <summary>The folder this flow was read from (full path).</summary>
    public string Directory { get; }

    /// <summary>In language-menu order.</summary>
    public IReadOnlyList<IvrLanguage> Languages { get; }

    /// <summary>The language of a caller who made no valid choice at the language menu.</summary>
    public IvrLanguage DefaultLanguage { get; }

    public IvrStep StartStep { get; }

    public IReadOnlyDictionary<string, IvrStep> Steps { get; }

    public IvrLanguage? FindLanguage(string code) => languagesByCode.GetValueOrDefault(code);

    public IvrLanguage? FindLanguageByDigit(string digit) => Languages.FirstOrDefault(language => language.Digit == digit);

    /// <summary>The step named in a flow (a step's next, options, default or on_no_answer).</summary>
    public IvrStep GetStep(string id) =>
        Steps.TryGetValue(id, out var step) ? step : throw new ArgumentException($"The IVR flow has no step '{id}'.", nameof(id));

    /// <summary>
    /// The full path of an audio file the flow plays, from the path under <c>audio/</c> (as in an
    /// <c>/ivr-audio/…</c> URL); null for anything else. Only the flow's own files qualify, so no
    /// path can reach outside the folder, nor the YAML and notes beside the recordings.
    /// </summary>
    public string? FindAudioFile(string pathUnderAudio)
    {
        var relative = IvrFlowLoader.AudioFolder + pathUnderAudio;
        if (!audioVersions.ContainsKey(relative))
        {
            return null;
        }

        var fullPath = Path.GetFullPath(Path.Combine(Directory, relative));
        return File.Exists(fullPath) ? fullPath : null;
    }

    internal string AudioUrl(string relativePath, string audioBaseUrl)
    {
        var underAudio = relativePath[IvrFlowLoader.AudioFolder.Length..];
        var escaped = string.Join('/', underAudio.Split('/').Select(Uri.EscapeDataString));
        // ?v= changes when the file does, so Twilio's cache never plays an old recording.
        return $"{audioBaseUrl.TrimEnd('/')}/{escaped}?v={audioVersions[relativePath]}";
    }
}
