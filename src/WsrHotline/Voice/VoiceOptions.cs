namespace WsrHotline.Voice;

/// <summary>Voice intake settings (section <c>Voice</c>).</summary>
public sealed class VoiceOptions
{
    /// <summary>
    /// How long a voice webhook may wait for PostgreSQL before the caller is routed the emergency way
    /// (ring the emergency on-call numbers, then voicemail). Twilio waits at most 15 s; a worker
    /// should not hear silence for even one.
    /// </summary>
    public TimeSpan DatabaseBudget { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>The clock on a callback owed after a voicemail or an abandoned call.</summary>
    public TimeSpan CallbackDue { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Where webhooks that arrive while the database is down are kept (encrypted) until it is back.
    /// Relative paths resolve against the content root. Must survive a restart.
    /// </summary>
    public string SpoolPath { get; set; } = "voice-spool";
}
