using System.Globalization;
using System.Text;

namespace WsrHotline.Messaging;

/// <summary>What a worker's message asks for, when it is a command rather than words about their problem.</summary>
public enum Command
{
    None,
    Status,
    Help,
    Stop,
    Start,
    New,
}

/// <summary>A command, the language its keyword belongs to (null when shared, e.g. STOP), and the words after it.</summary>
public sealed record ParsedCommand(Command Command, string? LanguageCode, string[] Arguments);

/// <summary>
/// Reading a worker's text: keywords in every hotline language (case and accents ignored), and a
/// guess at the language of a first message, so most workers never see a language menu.
/// </summary>
public static class MessageText
{
    private static readonly Dictionary<string, (Command Command, string? Language)> Keywords = Build(
        (Command.Status, "en", ["status"]), (Command.Status, "es", ["estado"]), (Command.Status, "ht", ["estati"]), (Command.Status, "bn", ["অবস্থা"]),
        (Command.Help, "en", ["help"]), (Command.Help, "es", ["ayuda"]), (Command.Help, "ht", ["èd"]), (Command.Help, "bn", ["সাহায্য"]),
        // STOP is English and Haitian Creole alike: the language stays whatever the conversation has.
        (Command.Stop, null, ["stop"]), (Command.Stop, "es", ["alto"]), (Command.Stop, "bn", ["বন্ধ"]),
        (Command.Start, "en", ["start"]), (Command.Start, "es", ["iniciar"]), (Command.Start, "ht", ["kòmanse"]), (Command.Start, "bn", ["শুরু"]),
        (Command.New, "en", ["new"]), (Command.New, "es", ["nuevo", "nueva"]), (Command.New, "ht", ["nouvo"]), (Command.New, "bn", ["নতুন"]));

    // Common words of workers' first messages; a word in two languages' lists (e.g. "yo", "la") is in neither.
    private static readonly Dictionary<string, string[]> LanguageWords = new(StringComparer.Ordinal)
    {
        ["es"] = Fold("""
            hola buenos buenas dias tardes noches gracias trabajo trabajamos trabajando pago pagan pagaron paga sueldo salario
            dinero horas hora extra patron patrona jefe mayordomo capataz finca rancho campo cosecha fabrica empresa quiero
            necesito tengo tenemos queja problema nos nosotros mi mis el los las una uno por para porque con sin pero esta estoy
            somos semana dia miedo acoso despedir despidieron trabajador trabajadores nadie ayuda quisiera denunciar cuando donde
            """).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        ["ht"] = Fold("""
            bonjou bonswa travay travayè peye peyem lajan patwon patwonn mwen nou pa ak pou gen kijan mesi tanpri plent pwoblèm
            fèm jaden faktori chèf sipèvizè semèn kounye yon nan li ou bay vle bezwen pè rele konn ki sa fè genyen anpil toujou
            lè ede kòb salè kite revoke manyen nèg moun kòm poukisa paske tout jodi a ankò
            """).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        ["en"] = Fold("""
            hello hi hey good morning afternoon evening thanks thank work working worked job pay paid paying wage wages salary
            money hours overtime boss supervisor manager foreman farm field factory company want need have has complaint problem
            my we our they the and is are was were not dont cant because with for this that week day afraid harassment fired
            worker workers nobody please when where what why how
            """).Split(' ', StringSplitOptions.RemoveEmptyEntries),
    };

    private static readonly Dictionary<string, string> WordLanguage = BuildWordLanguage();

    public const int BengaliStart = 0x0980;
    public const int BengaliEnd = 0x09FF;

    /// <summary>
    /// The command a message is, or <see cref="Command.None"/>. A keyword counts only alone (STATUS may
    /// be followed by numbers): "Stop paying us late" or "Help us, the boss…" are a worker's words
    /// about their problem, and must never opt them out or go unread. Bengali digits read as digits.
    /// </summary>
    public static ParsedCommand ParseCommand(string body)
    {
        var words = Words(body);
        if (words.Length == 0 || !Keywords.TryGetValue(words[0], out var keyword))
        {
            return new ParsedCommand(Command.None, null, []);
        }
        var arguments = words[1..].Select(AsciiDigits).ToArray();
        var isCommand = keyword.Command == Command.Status
            ? arguments.All(argument => argument.All(char.IsAsciiDigit))
            : arguments.Length == 0;
        return isCommand ? new ParsedCommand(keyword.Command, keyword.Language, arguments) : new ParsedCommand(Command.None, null, []);
    }

    /// <summary>"১২৩" → "123": a worker on a Bengali keyboard types Bengali digits.</summary>
    private static string AsciiDigits(string word) =>
        string.Create(word.Length, word, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = source[i] is >= '\u09E6' and <= '\u09EF' ? (char)('0' + (source[i] - '\u09E6')) : source[i];
            }
        });

    /// <summary>
    /// The hotline language a text is written in, or null when it cannot tell (then the worker chooses
    /// from the menu): Bengali by its script; another non-Latin script (Chinese, Arabic…) is none of
    /// ours; else the language with most of its common words in the text, if one clearly leads.
    /// </summary>
    public static string? DetectLanguage(string body)
    {
        var bengali = 0;
        var otherScript = 0;
        foreach (var rune in body.EnumerateRunes())
        {
            if (rune.Value is >= BengaliStart and <= BengaliEnd)
            {
                bengali++;
            }
            else if (Rune.IsLetter(rune) && rune.Value > 0x024F)
            {
                otherScript++;
            }
        }
        if (bengali > 0 && bengali >= otherScript)
        {
            return "bn";
        }
        if (otherScript > 0)
        {
            return null;
        }

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var word in Words(body))
        {
            if (WordLanguage.TryGetValue(word, out var language))
            {
                counts[language] = counts.GetValueOrDefault(language) + 1;
            }
        }
        var ranked = counts.OrderByDescending(pair => pair.Value).ToList();
        return ranked.Count > 0 && (ranked.Count == 1 || ranked[0].Value > ranked[1].Value) ? ranked[0].Key : null;
    }

    /// <summary>Lowercase, Latin accents removed ("ÈD" → "ed"); other scripts kept as they are (a Bengali vowel sign is not an accent).</summary>
    public static string Fold(string text)
    {
        var decomposed = text.Normalize(NormalizationForm.FormD);
        var folded = new StringBuilder(decomposed.Length);
        foreach (var c in decomposed)
        {
            var isMark = CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark;
            if (isMark && folded.Length > 0 && folded[^1] <= '\u024F')
            {
                continue;
            }
            folded.Append(char.ToLowerInvariant(c));
        }
        return folded.ToString().Normalize(NormalizationForm.FormC);
    }

    private static string[] Words(string body) =>
        Fold(body).Split([' ', '\t', '\r', '\n', ',', '.', ':', ';', '!', '?', '¡', '¿', '"', '\'', '(', ')', '।', '-', '/'],
            StringSplitOptions.RemoveEmptyEntries);

    private static Dictionary<string, (Command, string?)> Build(params (Command Command, string? Language, string[] Words)[] entries)
    {
        var keywords = new Dictionary<string, (Command, string?)>(StringComparer.Ordinal);
        foreach (var (command, language, words) in entries)
        {
            foreach (var word in words)
            {
                keywords[Fold(word)] = (command, language);
            }
        }
        return keywords;
    }

    private static Dictionary<string, string> BuildWordLanguage()
    {
        var byWord = new Dictionary<string, string>(StringComparer.Ordinal);
        var shared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (language, words) in LanguageWords)
        {
            foreach (var word in words)
            {
                if (byWord.TryGetValue(word, out var other) && other != language)
                {
                    shared.Add(word);
                }
                byWord[word] = language;
            }
        }
        foreach (var word in shared)
        {
            byWord.Remove(word);
        }
        return byWord;
    }
}
