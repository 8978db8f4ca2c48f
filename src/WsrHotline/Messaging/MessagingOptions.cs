namespace WsrHotline.Messaging;

/// <summary>Section <c>Messaging</c>: how replies to workers' texts are sent, and how their attachments are kept.</summary>
public sealed class MessagingOptions
{
    /// <summary>
    /// How long a messaging webhook waits for PostgreSQL before the text (or delivery report) is kept
    /// in the outage spool instead and answered: well inside Twilio's 15 s, so that a database that
    /// hangs rather than refuses still gets its texts answered 200 and kept.
    /// </summary>
    public TimeSpan WebhookDatabaseBudget { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether this instance processes the inbox (every instance may: a sender's messages still go one at a time, in order).</summary>
    public bool InboxProcessorEnabled { get; set; } = true;

    /// <summary>Processing loops of this instance (each takes its own texts, of different senders, and holds a database connection while it works).</summary>
    public int InboxWorkers { get; set; } = 4;

    /// <summary>How often an idle processor looks for rows it was not told about (another instance's, or left by a restart).</summary>
    public TimeSpan InboxPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts in all before a message whose processing keeps failing is given up (failed, shown to staff).</summary>
    public int InboxMaxAttempts { get; set; } = 5;

    /// <summary>The wait after the first failed processing attempt, doubled after each further one.</summary>
    public TimeSpan InboxRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts in all before a reply is given up as failed.</summary>
    public int SendMaxAttempts { get; set; } = 6;

    /// <summary>The wait after the first failed attempt, doubled after each further one.</summary>
    public TimeSpan SendRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Download attempts in all before an attachment is given up as failed (shown on the complaint).</summary>
    public int MediaMaxAttempts { get; set; } = 8;

    /// <summary>The wait after the first failed download, doubled after each further one (30 s … about an hour in all).</summary>
    public TimeSpan MediaRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest attachment kept, in bytes (16 MB: WhatsApp's own limit for audio and video).</summary>
    public long MediaMaxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// The content types kept, comma-separated (parameters such as <c>; codecs=opus</c> are ignored).
    /// Photos, PDF documents, voice notes (WhatsApp's are <c>audio/ogg</c>) and short videos; not SVG
    /// or HTML, which a browser would run when staff open them.
    /// </summary>
    public string MediaAllowedTypes { get; set; } =
        "image/jpeg,image/png,image/gif,image/webp,image/heic,image/heif,application/pdf," +
        "audio/ogg,audio/opus,audio/mpeg,audio/mp4,audio/aac,audio/amr,audio/wav,audio/x-wav,audio/webm," +
        "video/mp4,video/3gpp,video/quicktime";

    /// <summary>
    /// Approved WhatsApp templates, by purpose (a reply's <c>messages.purpose</c>, or <c>default</c> for
    /// any purpose without its own) and language code: what a reply is sent as when the worker's last
    /// WhatsApp message is more than 24 hours old, since free text is not allowed then.
    /// </summary>
    public Dictionary<string, Dictionary<string, WhatsAppTemplate>> WhatsAppTemplates { get; set; } = [];

    /// <summary>The normalised media type of a content type: <c>"Audio/OGG; codecs=opus"</c> → <c>"audio/ogg"</c>.</summary>
    public static string MediaType(string? contentType) =>
        (contentType ?? "").Split(';', 2)[0].Trim().ToLowerInvariant();

    /// <summary>Whether an attachment of this content type is kept.</summary>
    public bool AllowsMediaType(string? contentType)
    {
        var type = MediaType(contentType);
        return type.Length > 0
            && MediaAllowedTypes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Contains(type, StringComparer.OrdinalIgnoreCase);
    }
}

/// <summary>An approved WhatsApp template (Twilio Content API).</summary>
public sealed class WhatsAppTemplate
{
    /// <summary>The template's Content SID, <c>HX</c> and 32 hex digits.</summary>
    public string ContentSid { get; set; } = "";

    /// <summary>
    /// The template's variables and what fills each: <c>{"1": "case_number"}</c>. Values are names of
    /// <see cref="WhatsAppTemplateValues"/>; never the worker's words, their PIN or anything a template
    /// would put outside the conversation.
    /// </summary>
    public Dictionary<string, string> Variables { get; set; } = [];
}

/// <summary>The values a template variable may be filled with.</summary>
public static class WhatsAppTemplateValues
{
    /// <summary>The case number of the complaint the reply is about.</summary>
    public const string CaseNumber = "case_number";

    public static IReadOnlyList<string> All { get; } = [CaseNumber];
}
