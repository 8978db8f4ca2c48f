using System.Diagnostics;

namespace HotlineBench;

/// <summary>Open-loop pacing: requests start on a fixed schedule, whatever the earlier ones are doing.</summary>
public static class Schedule
{
    /// <summary>
    /// Waits until <paramref name="clock"/> reaches <paramref name="due"/> (at once if it has). The clock
    /// is read once: read twice (check, then wait), a thread descheduled between the reads can hand
    /// <see cref="Task.Delay(TimeSpan)"/> a wait between -2 and -1 ms, which it takes as "forever" (that
    /// hung the messaging benchmark at 9,000 requests/s).
    /// </summary>
    public static Task UntilAsync(Stopwatch clock, TimeSpan due)
    {
        var wait = due - clock.Elapsed;
        return wait > TimeSpan.Zero ? Task.Delay(wait) : Task.CompletedTask;
    }
}
