namespace WsrHotline.Voice;

/// <summary>Voice intake settings (section <c>Voice</c>).</summary>
public sealed class VoiceOptions
{
    /// <summary>
    /// How long the first webhook of a call may wait for PostgreSQL before the caller is routed the
    /// emergency way (ring the emergency on-call numbers, then voicemail): a worker who just called
    /// must hear a voice within a second, whatever the database does.
    /// </summary>
    public TimeSpan DatabaseBudget { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>
    /// The same for later steps, where the caller is already listening to prompts: a momentary
    /// database stall (a checkpoint, a lock) must not throw them onto the emergency path.
    /// </summary>
    public TimeSpan StepDatabaseBudget { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The clock on a callback owed after a voicemail or an abandoned call.</summary>
    public TimeSpan CallbackDue { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long a call rings in the consoles of available investigators of its language before the
    /// on-call phone tiers take over (nobody available: the tiers ring at once).
    /// </summary>
    public TimeSpan ConsoleOfferDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How many times a voicemail's copy out of Twilio is tried (download, then delete of Twilio's copy).</summary>
    public int RecordingCopyMaxAttempts { get; set; } = 8;

    /// <summary>The wait before the first retry of a copy; doubled each time.</summary>
    public TimeSpan RecordingCopyRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long an investigator may take over the wrap-up (disposition and note) after a call before
    /// calls are offered to them again by themselves.
    /// </summary>
    public TimeSpan WrapUpMaximum { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Interpreter lines by language code (for languages no on-call investigator speaks, e.g. Mam,
    /// K'iche'): the console's "Add an interpreter" dials one into the call's conference.
    /// </summary>
    public Dictionary<string, InterpreterLine> Interpreters { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The dispositions a wrap-up chooses from (code: label shown in the console). Settings add to
    /// these defaults; a code set to an empty label removes it (<c>"Voice:Dispositions:referred": ""</c>).
    /// </summary>
    public Dictionary<string, string> Dispositions { get; set; } = new(StringComparer.Ordinal)
    {
        ["new_complaint"] = "New complaint",
        ["follow_up"] = "Follow-up on an existing case",
        ["information_only"] = "Information only",
        ["wrong_number"] = "Wrong number",
        ["silent_or_prank"] = "Silent or prank",
        ["referred"] = "Referred",
    };

    /// <summary>The dispositions offered: <see cref="Dispositions"/> without those removed by an empty label.</summary>
    public IEnumerable<KeyValuePair<string, string>> OfferedDispositions => Dispositions.Where(d => !string.IsNullOrWhiteSpace(d.Value));
}

/// <summary>An interpreter line: its name as staff see it and the number dialled.</summary>
public sealed class InterpreterLine
{
    public string Name { get; set; } = "";

    public string Phone { get; set; } = "";
}
