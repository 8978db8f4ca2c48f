using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace WsrHotline.Ivr;

/// <summary>
/// Reads an ivr-flows folder (<c>hotline.yaml</c>, <c>prompts/*.yaml</c>, <c>audio/</c>) and validates
/// all of it, so that a mistake shows when the flow is loaded, not as silence on a worker's call.
/// Every problem is collected, with file, line:column, place and what is wrong, and reported at once.
/// The schema is documented in <c>ivr-flows/README.md</c>.
/// </summary>
public static partial class IvrFlowLoader
{
    public const string FlowFile = "hotline.yaml";
    public const string PromptsFolder = "prompts";

    /// <summary>Audio files live under this folder of the flows folder (and are served from it).</summary>
    public const string AudioFolder = "audio/";

    /// <summary>Loads and validates the flows folder.</summary>
    /// <exception cref="IvrFlowException">The folder is invalid; the message lists every problem.</exception>
    public static IvrFlow Load(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var fullPath = Path.GetFullPath(directory);
        var reader = new FlowReader(fullPath);
        var flow = reader.Read();
        return reader.Problems.Count == 0 && flow is not null ? flow : throw new IvrFlowException(fullPath, reader.Problems);
    }

    /// <summary>The file that speaks one digit in an audio-only language.</summary>
    public static string DigitFile(string languageCode, char digit) => $"{AudioFolder}{languageCode}/digits/{digit}.wav";

    private static readonly Dictionary<string, IvrStepType> StepTypes = new(StringComparer.Ordinal)
    {
        ["language_menu"] = IvrStepType.LanguageMenu,
        ["say"] = IvrStepType.Say,
        ["menu"] = IvrStepType.Menu,
        ["route"] = IvrStepType.Route,
        ["voicemail"] = IvrStepType.Voicemail,
        ["readout"] = IvrStepType.Readout,
        ["status_check"] = IvrStepType.StatusCheck,
        ["hangup"] = IvrStepType.Hangup,
    };

    /// <summary>Fields each step type needs and may have (besides <c>type</c>); anything else is a mistake.</summary>
    private static readonly Dictionary<IvrStepType, (string[] Required, string[] Optional)> StepFields = new()
    {
        [IvrStepType.LanguageMenu] = (["next"], ["prompts", "max_attempts"]),
        [IvrStepType.Say] = (["prompts", "next"], []),
        [IvrStepType.Menu] = (["prompts", "options"], ["default", "max_attempts"]),
        [IvrStepType.Route] = (["on_no_answer"], ["prompts", "hold_prompts", "next"]),
        [IvrStepType.Voicemail] = (["next", "max_length_seconds"], ["prompts"]),
        [IvrStepType.Readout] = (["prompts", "next"], []),
        [IvrStepType.StatusCheck] = (["next"], ["prompts", "max_attempts"]),
        [IvrStepType.Hangup] = ([], ["prompts"]),
    };

    private static readonly string[] AllStepFields =
        ["type", "prompts", "next", "options", "default", "max_attempts", "hold_prompts", "on_no_answer", "max_length_seconds"];

    private const int DefaultMaxAttempts = 3;

    [GeneratedRegex("^[a-z]{2,3}$")]
    private static partial Regex LanguageCodePattern();

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex IdentifierPattern();

    /// <summary>Anything between braces, to catch unknown names and malformed placeholders alike.</summary>
    [GeneratedRegex(@"\{([^{}]*)\}")]
    private static partial Regex BracedPattern();

    /// <summary>A value in YAML with the node it came from, for line:column in messages.</summary>
    private readonly record struct Located(string Value, YamlNode Node);

    private sealed record LanguageDraft(
        string Code, string Digit, string Name, string NativeName, string? Voice, string? SayLanguage, YamlNode Node);

    private sealed class StepDraft(string id, YamlNode node)
    {
        public string Id { get; } = id;
        public YamlNode Node { get; } = node;
        public IvrStepType? Type { get; set; }
        public List<Located> Prompts { get; } = [];
        public List<Located> HoldPrompts { get; } = [];
        public Located? Next { get; set; }
        public Located? Default { get; set; }
        public Located? OnNoAnswer { get; set; }
        public List<(string Digit, Located Target)> Options { get; } = [];
        public int? MaxAttempts { get; set; }
        public int? MaxLengthSeconds { get; set; }

        public IEnumerable<(string Field, Located Target)> Targets()
        {
            if (Next is { } next)
            {
                yield return ("next", next);
            }
            foreach (var (digit, target) in Options)
            {
                yield return ($"option '{digit}'", target);
            }
            if (Default is { } @default)
            {
                yield return ("default", @default);
            }
            if (OnNoAnswer is { } onNoAnswer)
            {
                yield return ("on_no_answer", onNoAnswer);
            }
        }
    }

    /// <summary>One pass over one folder; collects problems instead of stopping at the first.</summary>
    private sealed class FlowReader(string directory)
    {
        private readonly string displayRoot = Path.GetFileName(directory);
        private readonly Dictionary<string, string> audioVersions = new(StringComparer.Ordinal);

        // Every code hotline.yaml names, valid or not, so that one mistake in a language does not
        // also report its prompt file as undeclared.
        private readonly HashSet<string> declaredCodes = new(StringComparer.Ordinal);

        public List<string> Problems { get; } = [];

        public IvrFlow? Read()
        {
            if (!Directory.Exists(directory))
            {
                Problems.Add($"{directory}: the IVR flows folder does not exist (set Ivr:FlowsPath to the folder holding {FlowFile}).");
                return null;
            }

            var root = ReadMapping(FlowFile);
            if (root is null)
            {
                return null;
            }

            CheckFields(FlowFile, root, null, ["default_language", "start", "languages", "steps"]);
            var languages = ReadLanguages(root);
            var steps = ReadSteps(root);
            var start = RequiredScalar(FlowFile, root, null, "start");
            var defaultLanguage = RequiredScalar(FlowFile, root, null, "default_language");

            if (defaultLanguage is { } language && languages.All(l => l.Code != language.Value))
            {
                Problem(FlowFile, language.Node, null, $"default_language '{language.Value}' is not one of the languages");
            }
            CheckStepGraph(steps, start);

            var prompts = ReadAllPrompts(languages, steps);
            if (Problems.Count > 0 || start is null || defaultLanguage is null)
            {
                return null;
            }

            return new IvrFlow(
                directory,
                [.. languages.Select(l => new IvrLanguage(l.Code, l.Digit, l.Name, l.NativeName, l.Voice, l.SayLanguage, prompts[l.Code]))],
                defaultLanguage.Value.Value,
                start.Value.Value,
                steps.ToDictionary(s => s.Id, ToStep, StringComparer.Ordinal),
                audioVersions);
        }

        // ---- hotline.yaml: languages -------------------------------------------------------------

        private List<LanguageDraft> ReadLanguages(YamlMappingNode root)
        {
            var languages = new List<LanguageDraft>();
            var node = Field(root, "languages");
            if (node is not YamlSequenceNode sequence || sequence.Children.Count == 0)
            {
                Problem(FlowFile, node ?? root, null, "'languages' must be a list of at least one language");
                return languages;
            }

            for (var index = 0; index < sequence.Children.Count; index++)
            {
                if (sequence.Children[index] is not YamlMappingNode map)
                {
                    Problem(FlowFile, sequence.Children[index], $"languages[{index}]", "must be a mapping (code, digit, name, native_name, say)");
                    continue;
                }

                var code = RequiredScalar(FlowFile, map, $"languages[{index}]", "code");
                if (code is { } declared)
                {
                    declaredCodes.Add(declared.Value);
                }
                var place = code is { } c ? $"language '{c.Value}'" : $"languages[{index}]";
                CheckFields(FlowFile, map, place, ["code", "digit", "name", "native_name", "say"]);
                var digit = RequiredScalar(FlowFile, map, place, "digit");
                var name = RequiredScalar(FlowFile, map, place, "name");
                var nativeName = RequiredScalar(FlowFile, map, place, "native_name");
                var valid = code is not null && digit is not null && name is not null && nativeName is not null;

                if (code is { } codeValue)
                {
                    if (!LanguageCodePattern().IsMatch(codeValue.Value))
                    {
                        Problem(FlowFile, codeValue.Node, place, "code must be 2 or 3 lowercase letters (ISO 639), as in the database");
                        valid = false;
                    }
                    else if (languages.Any(l => l.Code == codeValue.Value))
                    {
                        Problem(FlowFile, codeValue.Node, place, "is declared twice");
                        valid = false;
                    }
                }

                if (digit is { } digitValue)
                {
                    var owner = languages.FirstOrDefault(l => l.Digit == digitValue.Value);
                    if (digitValue.Value.Length != 1 || digitValue.Value[0] is < '1' or > '9')
                    {
                        Problem(FlowFile, digitValue.Node, place, $"digit '{digitValue.Value}' must be a single key from 1 to 9");
                        valid = false;
                    }
                    else if (owner is not null)
                    {
                        Problem(FlowFile, digitValue.Node, place, $"digit '{digitValue.Value}' is already the digit of language '{owner.Code}'");
                        valid = false;
                    }
                }

                string? voice = null, sayLanguage = null;
                if (Field(map, "say") is { } sayNode)
                {
                    if (sayNode is YamlMappingNode say)
                    {
                        CheckFields(FlowFile, say, place, ["voice", "language"]);
                        voice = RequiredScalar(FlowFile, say, place, "voice")?.Value;
                        sayLanguage = RequiredScalar(FlowFile, say, place, "language")?.Value;
                        valid &= voice is not null && sayLanguage is not null;
                    }
                    else
                    {
                        Problem(FlowFile, sayNode, place, "'say' must be { voice: ..., language: ... } (leave it out for an audio-only language)");
                        valid = false;
                    }
                }

                if (valid)
                {
                    languages.Add(new LanguageDraft(code!.Value.Value, digit!.Value.Value, name!.Value.Value, nativeName!.Value.Value, voice, sayLanguage, map));
                }
            }

            return languages;
        }

        // ---- hotline.yaml: steps -----------------------------------------------------------------

        private List<StepDraft> ReadSteps(YamlMappingNode root)
        {
            var steps = new List<StepDraft>();
            var node = Field(root, "steps");
            if (node is not YamlMappingNode map || map.Children.Count == 0)
            {
                Problem(FlowFile, node ?? root, null, "'steps' must be a mapping of step ids to steps");
                return steps;
            }

            foreach (var (keyNode, value) in map.Children)
            {
                var id = (keyNode as YamlScalarNode)?.Value ?? "";
                var place = $"step '{id}'";
                if (!IdentifierPattern().IsMatch(id))
                {
                    Problem(FlowFile, keyNode, place, "a step id must be lowercase letters, digits and underscores");
                    continue;
                }
                if (value is not YamlMappingNode stepMap)
                {
                    Problem(FlowFile, value, place, "must be a mapping with at least 'type'");
                    continue;
                }

                var step = new StepDraft(id, keyNode);
                steps.Add(step);
                CheckFields(FlowFile, stepMap, place, AllStepFields);

                var type = RequiredScalar(FlowFile, stepMap, place, "type");
                if (type is { } typeName && !StepTypes.ContainsKey(typeName.Value))
                {
                    Problem(FlowFile, typeName.Node, place, $"unknown type '{typeName.Value}' (known: {string.Join(", ", StepTypes.Keys)})");
                }

                step.Prompts.AddRange(ScalarList(FlowFile, stepMap, place, "prompts"));
                step.HoldPrompts.AddRange(ScalarList(FlowFile, stepMap, place, "hold_prompts"));
                step.Next = OptionalScalar(FlowFile, stepMap, place, "next");
                step.Default = OptionalScalar(FlowFile, stepMap, place, "default");
                step.OnNoAnswer = OptionalScalar(FlowFile, stepMap, place, "on_no_answer");
                step.MaxAttempts = OptionalInt(stepMap, place, "max_attempts", 1, 9);
                step.MaxLengthSeconds = OptionalInt(stepMap, place, "max_length_seconds", 10, 3600);
                ReadOptions(stepMap, step, place);

                if (type is { } name && StepTypes.TryGetValue(name.Value, out var stepType))
                {
                    step.Type = stepType;
                    CheckStepFieldsForType(stepMap, stepType, name.Value, place);
                }
            }

            return steps;
        }

        private void ReadOptions(YamlMappingNode stepMap, StepDraft step, string place)
        {
            var node = Field(stepMap, "options");
            if (node is null)
            {
                return;
            }
            if (node is not YamlMappingNode options)
            {
                Problem(FlowFile, node, place, "'options' must map keys to steps, e.g. { \"1\": connect }");
                return;
            }

            foreach (var (keyNode, targetNode) in options.Children)
            {
                var digit = (keyNode as YamlScalarNode)?.Value ?? "";
                if (digit.Length != 1 || !char.IsAsciiDigit(digit[0]))
                {
                    Problem(FlowFile, keyNode, place, $"option key '{digit}' must be a single digit 0-9");
                }
                else if (step.Options.Any(option => option.Digit == digit))
                {
                    Problem(FlowFile, keyNode, place, $"option '{digit}' is given twice");
                }
                else if (ScalarValue(targetNode) is { } target)
                {
                    step.Options.Add((digit, new Located(target, targetNode)));
                }
                else
                {
                    Problem(FlowFile, targetNode, place, $"option '{digit}' must name a step");
                }
            }
        }

        private void CheckStepFieldsForType(YamlMappingNode stepMap, IvrStepType type, string typeName, string place)
        {
            var (required, optional) = StepFields[type];
            foreach (var (keyNode, _) in stepMap.Children)
            {
                var field = (keyNode as YamlScalarNode)?.Value ?? "";
                if (field != "type" && AllStepFields.Contains(field) && !required.Contains(field) && !optional.Contains(field))
                {
                    Problem(FlowFile, keyNode, place, $"'{field}' does not apply to a {typeName} step");
                }
            }
            foreach (var field in required)
            {
                var value = Field(stepMap, field);
                var empty = value is null
                    || (value is YamlSequenceNode sequence && sequence.Children.Count == 0)
                    || (value is YamlMappingNode mapping && mapping.Children.Count == 0);
                if (empty)
                {
                    Problem(FlowFile, stepMap, place, $"a {typeName} step needs '{field}'");
                }
            }
        }

        private void CheckStepGraph(List<StepDraft> steps, Located? start)
        {
            var byId = steps.ToDictionary(step => step.Id, StringComparer.Ordinal);
            foreach (var step in steps)
            {
                foreach (var (field, target) in step.Targets())
                {
                    if (!byId.ContainsKey(target.Value))
                    {
                        Problem(FlowFile, target.Node, $"step '{step.Id}'", $"{field} goes to step '{target.Value}', which does not exist");
                    }
                }
            }

            if (start is not { } startStep)
            {
                return;
            }
            if (!byId.ContainsKey(startStep.Value))
            {
                Problem(FlowFile, startStep.Node, null, $"start step '{startStep.Value}' does not exist");
                return;
            }

            // Breadth-first from start: a step nothing leads to is dead text, usually a typo in a link.
            var reached = new HashSet<string>(StringComparer.Ordinal) { startStep.Value };
            var queue = new Queue<string>([startStep.Value]);
            while (queue.TryDequeue(out var id))
            {
                foreach (var (_, target) in byId[id].Targets())
                {
                    if (byId.ContainsKey(target.Value) && reached.Add(target.Value))
                    {
                        queue.Enqueue(target.Value);
                    }
                }
            }
            foreach (var step in steps.Where(step => !reached.Contains(step.Id)))
            {
                Problem(FlowFile, step.Node, $"step '{step.Id}'",
                    $"cannot be reached from start '{startStep.Value}' (no next, options, default or on_no_answer leads to it)");
            }
        }

        private static IvrStep ToStep(StepDraft draft) => new(
            draft.Id,
            draft.Type!.Value,
            [.. draft.Prompts.Select(p => p.Value)],
            draft.Next?.Value,
            draft.Options.ToDictionary(o => o.Digit, o => o.Target.Value, StringComparer.Ordinal),
            draft.Default?.Value,
            draft.MaxAttempts ?? DefaultMaxAttempts,
            [.. draft.HoldPrompts.Select(p => p.Value)],
            draft.OnNoAnswer?.Value,
            draft.MaxLengthSeconds);

        // ---- prompts/<code>.yaml -----------------------------------------------------------------

        private Dictionary<string, IReadOnlyDictionary<string, IvrPrompt>> ReadAllPrompts(List<LanguageDraft> languages, List<StepDraft> steps)
        {
            // Which step plays each prompt, for "missing" messages; the required ones need no step.
            var neededBy = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var key in IvrPromptKeys.Required)
            {
                neededBy[key] = null;
            }
            foreach (var step in steps)
            {
                foreach (var prompt in step.Prompts.Concat(step.HoldPrompts))
                {
                    neededBy.TryAdd(prompt.Value, step.Id);
                }
            }

            var result = new Dictionary<string, IReadOnlyDictionary<string, IvrPrompt>>(StringComparer.Ordinal);
            var promptsDirectory = Path.Combine(directory, PromptsFolder);
            if (!Directory.Exists(promptsDirectory))
            {
                Problem(PromptsFolder, null, null, "the prompts folder is missing: it holds one <code>.yaml per language");
                return result;
            }

            foreach (var file in Directory.EnumerateFiles(promptsDirectory, "*.y*ml").Order(StringComparer.Ordinal))
            {
                var code = Path.GetFileNameWithoutExtension(file);
                var relative = $"{PromptsFolder}/{Path.GetFileName(file)}";
                if (Path.GetExtension(file) != ".yaml")
                {
                    Problem(relative, null, null, "prompt files end in .yaml; this one would be ignored");
                }
                else if (!declaredCodes.Contains(code))
                {
                    Problem(relative, null, null, $"language '{code}' is not declared in {FlowFile}: declare it there or remove this file");
                }
            }

            foreach (var language in languages)
            {
                result[language.Code] = ReadPrompts(language, neededBy);
            }

            return result;
        }

        private Dictionary<string, IvrPrompt> ReadPrompts(LanguageDraft language, Dictionary<string, string?> neededBy)
        {
            var prompts = new Dictionary<string, IvrPrompt>(StringComparer.Ordinal);
            var file = $"{PromptsFolder}/{language.Code}.yaml";
            if (!File.Exists(Path.Combine(directory, file)))
            {
                Problem(file, null, $"language '{language.Code}'", $"the file is missing: every language in {FlowFile} needs its prompts");
                return prompts;
            }

            var root = ReadMapping(file);
            if (root is null)
            {
                return prompts;
            }

            foreach (var (keyNode, value) in root.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                var place = $"prompt '{key}'";
                if (!neededBy.ContainsKey(key))
                {
                    Problem(file, keyNode, place, "is neither a prompt the app plays nor one a step names (a typo?)");
                    continue;
                }
                if (ReadPrompt(file, language, key, value, place) is { } prompt)
                {
                    prompts[key] = prompt;
                }
            }

            foreach (var (key, step) in neededBy.Where(needed => !root.Children.ContainsKey(new YamlScalarNode(needed.Key))))
            {
                Problem(file, null, $"prompt '{key}'", step is null
                    ? "is missing: every language needs it"
                    : $"is missing: step '{step}' plays it");
            }

            return prompts;
        }

        private IvrPrompt? ReadPrompt(string file, LanguageDraft language, string key, YamlNode value, string place)
        {
            Located? text;
            var audio = new List<Located>();
            var textOnly = IvrPromptKeys.IsTextOnly(key);
            if (textOnly && value is YamlMappingNode)
            {
                Problem(file, value, place, $"is sent as a text message ({IvrPromptKeys.TextOnlyPrefix}…): write it as plain text in quotes, without audio");
                return null;
            }
            if (value is YamlMappingNode map)
            {
                CheckFields(file, map, place, ["text", "audio"]);
                text = RequiredScalar(file, map, place, "text");
                audio.AddRange(ScalarList(file, map, place, "audio"));
                if (audio.Count == 0)
                {
                    Problem(file, map, place, "'audio' must list at least one file (or write the prompt as plain text)");
                }
            }
            else if (ScalarValue(value) is { } plain)
            {
                text = new Located(plain, value);
            }
            else
            {
                Problem(file, value, place, "must be text in quotes, or { text: \"...\", audio: [...] }");
                return null;
            }

            if (text is not { } located)
            {
                return null;
            }
            var problemsBefore = Problems.Count;
            var textPlaceholders = CheckTextPlaceholders(file, key, located, place);
            if (language.Voice is null && audio.Count == 0 && !textOnly)
            {
                Problem(file, value, place,
                    $"language '{language.Code}' has no `say` voice, so this prompt needs audio: {{ text: \"...\", audio: [{AudioFolder}{language.Code}/{key}.wav] }}");
            }
            CheckAudio(file, language, audio, textPlaceholders, place);

            return Problems.Count == problemsBefore ? new IvrPrompt(key, located.Value, [.. audio.Select(a => a.Value)]) : null;
        }

        private HashSet<string> CheckTextPlaceholders(string file, string key, Located text, string place)
        {
            var found = new HashSet<string>(StringComparer.Ordinal);
            foreach (Match match in BracedPattern().Matches(text.Value))
            {
                var name = match.Groups[1].Value;
                if (!IvrPlaceholders.All.Contains(name))
                {
                    Problem(file, text.Node, place, $"unknown placeholder {match.Value} (known: {KnownPlaceholders()})");
                }
                else if (IvrPlaceholders.CallValuePrompts.TryGetValue(name, out var onlyIn) && !onlyIn.Contains(key))
                {
                    Problem(file, text.Node, place, $"{match.Value} can only be used in '{string.Join("', '", onlyIn)}': the app has no {name} to give here");
                }
                else
                {
                    found.Add(name);
                }
            }

            if (BracedPattern().Replace(text.Value, "").IndexOfAny(['{', '}']) >= 0)
            {
                Problem(file, text.Node, place, "has a '{' or '}' that is not part of a placeholder such as {digit}");
            }
            foreach (var (name, prompts) in IvrPlaceholders.CallValuePrompts)
            {
                if (prompts.Contains(key) && !found.Contains(name))
                {
                    Problem(file, text.Node, place, $"must contain {{{name}}}: the caller needs to hear it");
                }
            }

            return found;
        }

        private void CheckAudio(string file, LanguageDraft language, List<Located> audio, HashSet<string> textPlaceholders, string place)
        {
            if (audio.Count == 0)
            {
                return;
            }

            var played = new HashSet<string>(StringComparer.Ordinal);
            foreach (var segment in audio)
            {
                if (IvrFlow.PlaceholderName(segment.Value) is { } name)
                {
                    if (!IvrPlaceholders.All.Contains(name))
                    {
                        Problem(file, segment.Node, place, $"unknown placeholder {segment.Value} (known: {KnownPlaceholders()})");
                    }
                    else if (!IvrPlaceholders.IsDigits(name))
                    {
                        Problem(file, segment.Node, place, $"{segment.Value} cannot be played from audio: say the name in the recording itself");
                    }
                    else if (!textPlaceholders.Contains(name))
                    {
                        Problem(file, segment.Node, place, $"audio plays {segment.Value} but the text does not say it");
                    }
                    else
                    {
                        played.Add(name);
                        if (language.Voice is null)
                        {
                            CheckDigitFiles(file, language.Code, segment, place);
                        }
                    }
                }
                else
                {
                    CheckAudioFile(file, segment, place);
                }
            }

            // The caller's number must be heard, not only written in the transcript.
            foreach (var name in textPlaceholders.Where(IvrPlaceholders.CallValuePrompts.ContainsKey).Where(name => !played.Contains(name)))
            {
                Problem(file, audio[0].Node, place, $"the text says {{{name}}} but audio does not play it: add \"{{{name}}}\" to audio");
            }
        }

        private void CheckDigitFiles(string file, string languageCode, Located segment, string place)
        {
            foreach (var digit in "0123456789")
            {
                var path = DigitFile(languageCode, digit);
                if (!audioVersions.ContainsKey(path) && AudioProblem(path) is { } problem)
                {
                    Problem(file, segment.Node, place, $"plays {segment.Value} digit by digit, but {problem}");
                }
            }
        }

        private void CheckAudioFile(string file, Located segment, string place)
        {
            var path = segment.Value;
            var extension = Path.GetExtension(path);
            var wellFormed = path.StartsWith(AudioFolder, StringComparison.Ordinal)
                && !path.Contains('\\', StringComparison.Ordinal)
                && !path.Split('/').Any(part => part is "" or "." or "..")
                && extension is ".wav" or ".mp3";
            if (!wellFormed)
            {
                Problem(file, segment.Node, place,
                    $"audio file {path} must be a .wav or .mp3 path under {AudioFolder} (e.g. {AudioFolder}ht/goodbye.wav), with / and no ..");
            }
            else if (!audioVersions.ContainsKey(path) && AudioProblem(path) is { } problem)
            {
                Problem(file, segment.Node, place, problem);
            }
        }

        /// <summary>Null when the file is there and playable (and remembers its version); else what is wrong.</summary>
        private string? AudioProblem(string relativePath)
        {
            var fullPath = Path.Combine(directory, relativePath);
            if (!File.Exists(fullPath))
            {
                return $"audio file {relativePath} does not exist";
            }
            try
            {
                var bytes = File.ReadAllBytes(fullPath);
                if (bytes.Length == 0)
                {
                    return $"audio file {relativePath} is empty";
                }
                audioVersions[relativePath] = Convert.ToHexStringLower(SHA256.HashData(bytes))[..12];
                return null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return $"audio file {relativePath} cannot be read: {ex.Message}";
            }
        }

        private static string KnownPlaceholders() => string.Join(", ", IvrPlaceholders.All.Select(name => $"{{{name}}}"));

        // ---- YAML helpers ------------------------------------------------------------------------

        private YamlMappingNode? ReadMapping(string relativeFile)
        {
            var path = Path.Combine(directory, relativeFile);
            if (!File.Exists(path))
            {
                Problem(relativeFile, null, null, "the file is missing");
                return null;
            }

            PositionTrackingParser? parser = null;
            try
            {
                parser = new PositionTrackingParser(File.OpenText(path));
                var stream = new YamlStream();
                stream.Load(parser);
                if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
                {
                    Problem(relativeFile, null, null, "must be a mapping of keys to values");
                    return null;
                }
                return root;
            }
            catch (YamlException ex)
            {
                ProblemAt(relativeFile, ex.Start, null, $"YAML syntax error: {ex.Message}");
            }
            catch (InvalidOperationException)
            {
                // YamlDotNet 16 throws this, without a position, on e.g. an unclosed [ list.
                ProblemAt(relativeFile, parser?.LastMark, null, "YAML syntax error near here (an unclosed [ or { ?)");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Problem(relativeFile, null, null, $"cannot be read: {ex.Message}");
            }
            finally
            {
                parser?.Dispose();
            }
            return null;
        }

        private void CheckFields(string file, YamlMappingNode map, string? place, string[] known)
        {
            foreach (var (keyNode, _) in map.Children)
            {
                var name = (keyNode as YamlScalarNode)?.Value ?? "";
                if (!known.Contains(name))
                {
                    Problem(file, keyNode, place, $"unknown field '{name}' (expected: {string.Join(", ", known)})");
                }
            }
        }

        private static YamlNode? Field(YamlMappingNode map, string name) =>
            map.Children.TryGetValue(new YamlScalarNode(name), out var value) ? value : null;

        /// <summary>A scalar's text; null for a list, a mapping, or an empty/null value.</summary>
        private static string? ScalarValue(YamlNode node) =>
            node is YamlScalarNode { Value: { Length: > 0 } value } scalar
            && !(scalar.Style == ScalarStyle.Plain && value is "~" or "null")
                ? value
                : null;

        private Located? RequiredScalar(string file, YamlMappingNode map, string? place, string name)
        {
            var node = Field(map, name);
            if (node is null)
            {
                Problem(file, map, place, $"'{name}' is missing");
                return null;
            }
            return ScalarValue(node) is { } value ? new Located(value, node) : NotAScalar(file, node, place, name);
        }

        private Located? OptionalScalar(string file, YamlMappingNode map, string place, string name) =>
            Field(map, name) is not { } node ? null
            : ScalarValue(node) is { } value ? new Located(value, node)
            : NotAScalar(file, node, place, name);

        private Located? NotAScalar(string file, YamlNode node, string? place, string name)
        {
            Problem(file, node, place, $"'{name}' must be a single non-empty value");
            return null;
        }

        private List<Located> ScalarList(string file, YamlMappingNode map, string place, string name)
        {
            var items = new List<Located>();
            var node = Field(map, name);
            if (node is null)
            {
                return items;
            }
            if (node is not YamlSequenceNode sequence)
            {
                Problem(file, node, place, $"'{name}' must be a list, e.g. [a, b]");
                return items;
            }
            foreach (var item in sequence.Children)
            {
                if (ScalarValue(item) is { } value)
                {
                    items.Add(new Located(value, item));
                }
                else
                {
                    Problem(file, item, place, $"every item of '{name}' must be a single non-empty value");
                }
            }
            return items;
        }

        private int? OptionalInt(YamlMappingNode map, string place, string name, int min, int max)
        {
            if (OptionalScalar(FlowFile, map, place, name) is not { } located)
            {
                return null;
            }
            if (int.TryParse(located.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max)
            {
                return number;
            }
            Problem(FlowFile, located.Node, place, $"'{name}' must be a whole number from {min} to {max}");
            return null;
        }

        private void Problem(string file, YamlNode? node, string? place, string message) =>
            ProblemAt(file, node?.Start, place, message);

        /// <summary>"ivr-flows/prompts/ht.yaml:12:3, prompt 'goodbye': audio file … does not exist".</summary>
        private void ProblemAt(string file, Mark? at, string? place, string message)
        {
            var location = at is { } mark && mark.Line > 0 ? $":{mark.Line}:{mark.Column}" : "";
            Problems.Add(place is null
                ? $"{displayRoot}/{file}{location}: {message}"
                : $"{displayRoot}/{file}{location}, {place}: {message}");
        }
    }

    /// <summary>Remembers where parsing got to, for errors that YamlDotNet reports without a position.</summary>
    private sealed class PositionTrackingParser(StreamReader reader) : IParser, IDisposable
    {
        private Parser? parser;

        public Mark? LastMark { get; private set; }

        public ParsingEvent? Current => parser?.Current;

        public bool MoveNext()
        {
            parser ??= new Parser(reader);
            var moved = parser.MoveNext();
            if (parser.Current is { } current)
            {
                LastMark = current.Start;
            }
            return moved;
        }

        public void Dispose() => reader.Dispose();
    }
}
