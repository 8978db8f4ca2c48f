using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using WsrHotline.Ivr;

namespace WsrHotline.Messaging;

/// <summary>
/// The approved templates a WhatsApp reply is sent as outside the 24-hour window
/// (<c>Messaging:WhatsAppTemplates:&lt;purpose&gt;:&lt;language&gt;</c>, with <c>default</c> for any purpose
/// that has none of its own).
/// </summary>
public static partial class WhatsAppTemplates
{
    /// <summary>The purpose whose templates serve every reply whose own purpose has none.</summary>
    public const string DefaultPurpose = "default";

    /// <summary>A template chosen for a reply: its configuration key (for messages and the timeline) and the template.</summary>
    public sealed record Choice(string Key, WhatsAppTemplate Template);

    /// <summary>The reply's own purpose's template in its language, else the default purpose's; null when neither exists.</summary>
    public static Choice? Find(MessagingOptions options, string purpose, string language)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var candidate in new[] { purpose, DefaultPurpose })
        {
            if (options.WhatsAppTemplates.TryGetValue(candidate, out var languages) && languages.TryGetValue(language, out var template))
            {
                return new Choice($"Messaging:WhatsAppTemplates:{candidate}:{language}", template);
            }
        }

        return null;
    }

    /// <summary>
    /// Twilio's <c>ContentVariables</c>: the template's variables filled with the reply's values, as a
    /// JSON object. Null when a value the template needs is missing (a case number for a reply that
    /// belongs to no complaint).
    /// </summary>
    public static string? Variables(WhatsAppTemplate template, string? caseNumber)
    {
        ArgumentNullException.ThrowIfNull(template);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, source) in template.Variables)
        {
            var value = source == WhatsAppTemplateValues.CaseNumber ? caseNumber : null;
            if (value is null)
            {
                return null;
            }

            values[name] = value;
        }

        return JsonSerializer.Serialize(values);
    }

    /// <summary>What is wrong with the configured templates, one sentence each (empty when nothing is).</summary>
    public static IEnumerable<string> Problems(MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (purpose, languages) in options.WhatsAppTemplates)
        {
            foreach (var (language, template) in languages)
            {
                var key = $"Messaging:WhatsAppTemplates:{purpose}:{language}";
                if (!ContentSid().IsMatch(template.ContentSid ?? ""))
                {
                    yield return $"{key}:ContentSid must be the template's Content SID from Twilio's Content Template Builder: HX and 32 hex digits.";
                }

                foreach (var (name, source) in template.Variables)
                {
                    if (!WhatsAppTemplateValues.All.Contains(source, StringComparer.Ordinal))
                    {
                        yield return $"{key}:Variables:{name} is '{source}'; a template variable may hold only: {string.Join(", ", WhatsAppTemplateValues.All)}.";
                    }
                }
            }
        }
    }

    /// <summary>The default templates missing for the hotline's languages, as the keys to set.</summary>
    public static IReadOnlyList<string> MissingDefaults(MessagingOptions options, IEnumerable<string> languageCodes)
    {
        ArgumentNullException.ThrowIfNull(options);
        var defaults = options.WhatsAppTemplates.GetValueOrDefault(DefaultPurpose) ?? [];
        return [.. languageCodes.Where(code => !defaults.ContainsKey(code)).Select(code => $"Messaging:WhatsAppTemplates:{DefaultPurpose}:{code}:ContentSid")];
    }

    [GeneratedRegex("^HX[0-9a-fA-F]{32}$")]
    private static partial Regex ContentSid();
}

/// <summary>
/// Checks the templates at start: a malformed one always stops the app; in Production so does a
/// hotline language without a default template (a reply outside the window would fail), elsewhere
/// that is a warning at start (<see cref="OutboundSenderService"/>).
/// </summary>
public sealed class WhatsAppTemplatesValidation(IvrFlowProvider flows, IHostEnvironment environment) : IValidateOptions<MessagingOptions>
{
    public ValidateOptionsResult Validate(string? name, MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = WhatsAppTemplates.Problems(options).ToList();
        if (environment.IsProduction())
        {
            var missing = WhatsAppTemplates.MissingDefaults(options, flows.Current.Languages.Select(language => language.Code));
            if (missing.Count > 0)
            {
                problems.Add("A WhatsApp reply sent more than 24 hours after the worker's last message must be an approved template, and " +
                    $"these hotline languages have none: set {string.Join(", ", missing)} (see README, WhatsApp templates).");
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
