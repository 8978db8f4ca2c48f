using Microsoft.Extensions.Options;
using WsrHotline.Ivr;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace WsrHotline.LiveConsole;

/// <summary>A ready-made reply an investigator can pick and edit, in one language.</summary>
public sealed record CannedResponse(string Id, string Label, string Text);

/// <summary>
/// Canned replies per language, from <c>ivr-flows/canned-responses.yaml</c> (beside the prompts, so a
/// language is added in one folder). Read on each request: an edit needs no restart.
/// </summary>
public sealed class CannedResponses(IOptions<IvrOptions> ivr, IHostEnvironment environment)
{
    public const string FileName = "canned-responses.yaml";

    private sealed class Entry
    {
        public string Id { get; set; } = "";
        public Dictionary<string, string> Label { get; set; } = [];
        public Dictionary<string, string> Text { get; set; } = [];
    }

    public IReadOnlyList<CannedResponse> For(string language)
    {
        var entries = Load();
        return [.. entries
            .Where(entry => entry.Text.ContainsKey(language))
            .Select(entry => new CannedResponse(entry.Id, entry.Label.GetValueOrDefault(language) ?? entry.Label.GetValueOrDefault("en") ?? entry.Id, entry.Text[language]))];
    }

    /// <summary>Every entry, for validation: each must have a text in every hotline language.</summary>
    public IReadOnlyList<(string Id, IReadOnlyCollection<string> Languages)> Inventory() =>
        [.. Load().Select(entry => (entry.Id, (IReadOnlyCollection<string>)entry.Text.Keys))];

    private List<Entry> Load()
    {
        var path = Path.Combine(ivr.Value.ResolveFlowsPath(environment.ContentRootPath), FileName);
        if (!File.Exists(path))
        {
            return [];
        }
        var deserializer = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
        return deserializer.Deserialize<List<Entry>>(File.ReadAllText(path)) ?? [];
    }
}
