using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using WsrHotline.Pii;

namespace WsrHotline.Spool;

/// <summary>A webhook kept while the database was down.</summary>
public sealed record SpooledWebhook(string Path, string Query, DateTimeOffset ReceivedAt, Dictionary<string, string[]> Fields);

/// <summary>What the spool holds, in counts (never contents).</summary>
public sealed record SpoolCounts(int Waiting, int SetAside, DateTimeOffset? OldestWaitingAt);

/// <summary>
/// Keeps webhooks (calls, recordings, statuses, texts, delivery reports) that arrive while PostgreSQL
/// is down in files, encrypted whole (they hold the caller's number, their words, the recording
/// address), until <see cref="SpoolReplayer"/> stores them, oldest first. A file is written to a
/// temporary name, flushed to disk and renamed, so a crash never leaves half a file and a webhook
/// answered 200 is on disk. Files are named by a clock that never repeats or goes back, so name
/// order is arrival order.
/// </summary>
public sealed class WebhookSpool
{
    /// <summary>The encryption purpose; the name predates texts being spooled, and changing it would strand files already kept.</summary>
    private const string Purpose = "voice.spool";
    private const string Extension = ".spool";

    /// <summary>Ends the name of a worker's text (a file name's mark, so texts are counted without decrypting anything).</summary>
    private const string TextExtension = ".text" + Extension;

    private readonly PiiProtector pii;
    private readonly TimeProvider time;
    private long lastStamp;
    private int waiting;
    private int waitingTexts;

    public WebhookSpool(IOptions<SpoolOptions> options, IHostEnvironment environment, PiiProtector pii, TimeProvider time)
    {
        this.pii = pii;
        this.time = time;
        Directory = System.IO.Path.GetFullPath(System.IO.Path.Combine(environment.ContentRootPath, options.Value.Path));
        SetAsideDirectory = System.IO.Path.TrimEndingDirectorySeparator(Directory) + "-set-aside";
        // Files kept before a restart count from the first webhook on: a text must not overtake them.
        var kept = Files(Directory);
        waiting = kept.Count;
        waitingTexts = kept.Count(IsText);
        lastStamp = kept.Count > 0 ? StampOf(kept[^1]) ?? 0 : 0;
    }

    public string Directory { get; }

    /// <summary>Beside the spool: files that can never be stored, still encrypted, for an operator to look at.</summary>
    public string SetAsideDirectory { get; }

    /// <summary>
    /// How many webhooks wait in the spool (kept in memory, so a webhook can ask on every request; it
    /// may count one too many for a moment, never one too few).
    /// </summary>
    public int Waiting => Volatile.Read(ref waiting);

    /// <summary>
    /// How many of those are workers' texts (kept with <c>isText</c>): while any waits, a new text
    /// goes after it. Calls and delivery reports waiting do not hold texts back.
    /// </summary>
    public int WaitingTexts => Volatile.Read(ref waitingTexts);

    public async Task KeepAsync(HttpRequest request, IFormCollection form, bool isText = false)
    {
        var webhook = new SpooledWebhook(
            request.Path.Value ?? "",
            request.QueryString.Value ?? "",
            time.GetUtcNow(),
            form.ToDictionary(field => field.Key, field => field.Value.Select(value => value ?? "").ToArray()));
        System.IO.Directory.CreateDirectory(Directory);
        var name = $"{NextStamp(webhook.ReceivedAt.UtcTicks):D20}-{Guid.NewGuid():N}";
        var temporary = System.IO.Path.Combine(Directory, name + ".tmp");
        var bytes = Encoding.UTF8.GetBytes(pii.Encrypt(JsonSerializer.Serialize(webhook), Purpose));
        await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
        {
            await file.WriteAsync(bytes, CancellationToken.None);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, System.IO.Path.Combine(Directory, name + (isText ? TextExtension : Extension)));
        Interlocked.Increment(ref waiting);
        if (isText)
        {
            Interlocked.Increment(ref waitingTexts);
        }
    }

    /// <summary>Kept webhooks, oldest first; also sets <see cref="Waiting"/> to what is on disk.</summary>
    public IReadOnlyList<string> Pending()
    {
        var files = Files(Directory);
        Volatile.Write(ref waiting, files.Count);
        Volatile.Write(ref waitingTexts, files.Count(IsText));
        return files;
    }

    /// <summary>Throws if the file cannot be decrypted (altered, another key, not ours) or is not a kept webhook.</summary>
    public SpooledWebhook Read(string file) =>
        JsonSerializer.Deserialize<SpooledWebhook>(pii.Decrypt(File.ReadAllText(file), Purpose))
        ?? throw new InvalidDataException($"Spool file {System.IO.Path.GetFileName(file)} is empty.");

    /// <summary>The webhook is stored: its file goes.</summary>
    public void Remove(string file)
    {
        File.Delete(file);
        Forget(file);
    }

    /// <summary>The webhook can never be stored: its file moves, as it is (encrypted), beside the spool.</summary>
    public void SetAside(string file)
    {
        System.IO.Directory.CreateDirectory(SetAsideDirectory);
        File.Move(file, System.IO.Path.Combine(SetAsideDirectory, System.IO.Path.GetFileName(file)), overwrite: true);
        Forget(file);
    }

    private void Forget(string file)
    {
        Interlocked.Decrement(ref waiting);
        if (IsText(file))
        {
            Interlocked.Decrement(ref waitingTexts);
        }
    }

    private static bool IsText(string file) => file.EndsWith(TextExtension, StringComparison.Ordinal);

    /// <summary>Read from the folders (names only: nothing is decrypted).</summary>
    public SpoolCounts Count()
    {
        var files = Files(Directory);
        var setAside = System.IO.Directory.Exists(SetAsideDirectory) ? System.IO.Directory.GetFiles(SetAsideDirectory, "*" + Extension).Length : 0;
        DateTimeOffset? oldest = files.Count > 0 && StampOf(files[0]) is { } ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
        return new SpoolCounts(files.Count, setAside, oldest);
    }

    private static List<string> Files(string directory) =>
        System.IO.Directory.Exists(directory)
            ? [.. System.IO.Directory.GetFiles(directory, "*" + Extension).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>The UTC ticks a file's name starts with (null for a name the spool did not give).</summary>
    private static long? StampOf(string file)
    {
        var name = System.IO.Path.GetFileName(file);
        return name.Length > 20
            && long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            && ticks <= DateTimeOffset.MaxValue.UtcTicks
                ? ticks
                : null;
    }

    /// <summary>The time in ticks, moved on by one tick where it would repeat or go back (two webhooks in one tick, a clock set back).</summary>
    private long NextStamp(long ticks)
    {
        while (true)
        {
            var last = Volatile.Read(ref lastStamp);
            var next = Math.Max(ticks, last + 1);
            if (Interlocked.CompareExchange(ref lastStamp, next, last) == last)
            {
                return next;
            }
        }
    }
}
