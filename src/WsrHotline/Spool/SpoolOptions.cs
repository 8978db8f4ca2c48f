namespace WsrHotline.Spool;

/// <summary>The outage spool's settings (section <c>Spool</c>).</summary>
public sealed class SpoolOptions
{
    /// <summary>
    /// Where webhooks that arrive while the database is down are kept (encrypted) until it is back.
    /// Relative paths resolve against the content root. Must survive a restart. Files that can never
    /// be stored are moved to the folder of the same name with <c>-set-aside</c> after it.
    /// </summary>
    public string Path { get; set; } = "webhook-spool";

    /// <summary>How often the replayer looks for kept webhooks (and tries the database again after an outage).</summary>
    public TimeSpan ReplayInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// A replayed text waits this long in the inbox before it is processed, so that every instance's
    /// spool (each replays its own within <see cref="ReplayInterval"/> of the database's return) is in
    /// the inbox first: a worker's texts are then processed in the order they first reached the hotline,
    /// whichever instances kept them. Longer than <see cref="ReplayInterval"/>.
    /// </summary>
    public TimeSpan ReplaySettle { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A webhook still waiting after this long, with the database reachable, means replay is not
    /// keeping up or is stuck: <c>/health/ready</c> says Degraded.
    /// </summary>
    public TimeSpan StuckAfter { get; set; } = TimeSpan.FromMinutes(5);
}
