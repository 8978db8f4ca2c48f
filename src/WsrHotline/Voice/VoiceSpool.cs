using System.Text.Json;
using Microsoft.Extensions.Options;
using WsrHotline.Pii;

namespace WsrHotline.Voice;

/// <summary>A webhook kept while the database was down.</summary>
public sealed record SpooledWebhook(string Path, string Query, DateTimeOffset ReceivedAt, Dictionary<string, string[]> Fields);

/// <summary>
/// Keeps webhooks that arrive while PostgreSQL is down (recordings, statuses, who called) in files,
/// encrypted whole (they hold the caller's number and the recording address), until
/// <see cref="VoiceSpoolReplayer"/> stores them. Written to a temporary name and renamed, so a crash
/// never leaves half a file.
/// </summary>
public sealed class VoiceSpool(IOptions<VoiceOptions> options, IHostEnvironment environment, PiiProtector pii, TimeProvider time)
{
    private const string Purpose = "voice.spool";

    public string Directory => Path.Combine(environment.ContentRootPath, options.Value.SpoolPath);

    public async Task KeepAsync(HttpRequest request, IFormCollection form)
    {
        var webhook = new SpooledWebhook(
            request.Path.Value ?? "",
            request.QueryString.Value ?? "",
            time.GetUtcNow(),
            form.ToDictionary(field => field.Key, field => field.Value.Select(value => value ?? "").ToArray()));
        System.IO.Directory.CreateDirectory(Directory);
        var name = $"{webhook.ReceivedAt.UtcTicks:D20}-{Guid.NewGuid():N}";
        var temporary = Path.Combine(Directory, name + ".tmp");
        await File.WriteAllTextAsync(temporary, pii.Encrypt(JsonSerializer.Serialize(webhook), Purpose), CancellationToken.None);
        File.Move(temporary, Path.Combine(Directory, name + ".spool"));
    }

    /// <summary>Kept webhooks, oldest first.</summary>
    public IEnumerable<string> Pending() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory, "*.spool").Order(StringComparer.Ordinal)
            : [];

    public SpooledWebhook Read(string file) =>
        JsonSerializer.Deserialize<SpooledWebhook>(pii.Decrypt(File.ReadAllText(file), Purpose))
        ?? throw new InvalidDataException($"Spool file {Path.GetFileName(file)} is empty.");
}
