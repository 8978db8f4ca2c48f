namespace WsrHotline.Database;

/// <summary>
/// When this instance last found PostgreSQL unreachable, and when it found it back. Whoever meets an
/// outage reports it (a webhook answered 503, the voice filter that spooled a call, the probe of
/// <c>Reconciliation.OutageWatcher</c>); the probe reports the database back, which completes
/// <see cref="NextRecovery"/> with the time the outage began.
/// </summary>
public sealed class DatabaseOutages(TimeProvider time)
{
    private long downSinceTicks;
    private TaskCompletionSource<DateTimeOffset> recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Since when the database has been unreachable (the first report of this outage), or null while it is up.</summary>
    public DateTimeOffset? DownSince => Interlocked.Read(ref downSinceTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>Completes, with the outage's start, when the database is next found back after an outage.</summary>
    public Task<DateTimeOffset> NextRecovery => Volatile.Read(ref recovered).Task;

    /// <summary>The database could not be reached just now (the first report of an outage marks its start).</summary>
    public void ReportDown() => Interlocked.CompareExchange(ref downSinceTicks, time.GetUtcNow().UtcTicks, 0);

    /// <summary>The database answered: ends the outage, if there was one.</summary>
    public void ReportUp()
    {
        var since = Interlocked.Exchange(ref downSinceTicks, 0);
        if (since != 0)
        {
            Interlocked.Exchange(ref recovered, new(TaskCreationOptions.RunContinuationsAsynchronously))
                .TrySetResult(new DateTimeOffset(since, TimeSpan.Zero));
        }
    }
}
