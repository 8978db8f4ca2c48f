namespace WsrHotline.Reconciliation;

/// <summary>Section <c>Reconciliation</c>: taking in what Twilio has and the hotline never stored.</summary>
public sealed class ReconciliationOptions
{
    /// <summary>The window of the daily run (<c>Jobs:ReconciliationInterval</c>): two days, so every day is listed twice.</summary>
    public TimeSpan DailyWindow { get; set; } = TimeSpan.FromDays(2);

    /// <summary>Whether this instance runs a reconciliation when it finds the database back after an outage.</summary>
    public bool AfterOutage { get; set; } = true;

    /// <summary>How far before the outage's first sign the run after it starts (texts accepted just before may not have committed).</summary>
    public TimeSpan OutageOverlap { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often the outage watcher checks the database (an outage shorter than this is still seen when a webhook met it).</summary>
    public TimeSpan OutageProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>After a failed run following an outage (Twilio unreachable, say), the wait before the next try (doubled each time, at most an hour).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMinutes(1);
}
