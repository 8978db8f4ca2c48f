using System.Globalization;

namespace WsrHotline.Jobs;

/// <summary>Section <c>Jobs</c>: the Hangfire server on this instance and how often the recurring jobs run.</summary>
public sealed class JobsOptions
{
    /// <summary>
    /// Whether this instance runs a Hangfire server (any number may: they share the storage, and each
    /// occurrence of a recurring job runs once, on one of them).
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Workers of this instance's server: jobs it runs at once. The recurring jobs are six short ones.</summary>
    public int WorkerCount { get; set; } = 5;

    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(15);

    public TimeSpan DeliveryInterval { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan CoverageInterval { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan CheckinInterval { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often the dashboard's counts snapshot is refreshed.</summary>
    public TimeSpan DashboardInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often texts and recordings are reconciled against Twilio (<c>Reconciliation:DailyWindow</c> back each time).</summary>
    public TimeSpan ReconciliationInterval { get; set; } = TimeSpan.FromDays(1);

    internal IEnumerable<TimeSpan> Intervals() =>
        [SweepInterval, DeliveryInterval, CoverageInterval, CheckinInterval, DashboardInterval, ReconciliationInterval];

    /// <summary>
    /// The cron expression (Hangfire's six-part form, seconds first, UTC) that fires every
    /// <paramref name="interval"/> on the clock's own boundaries, or null when no cron expression
    /// does: an interval must be whole seconds dividing a minute, whole minutes dividing an hour,
    /// whole hours dividing a day, or one day (at midnight UTC).
    /// </summary>
    public static string? Cron(TimeSpan interval)
    {
        static bool Divides(double part, int whole) => part >= 1 && part == Math.Floor(part) && whole % (int)part == 0;
        static string N(double value) => ((int)value).ToString(CultureInfo.InvariantCulture);

        return interval switch
        {
            _ when interval < TimeSpan.FromMinutes(1) => Divides(interval.TotalSeconds, 60) ? $"*/{N(interval.TotalSeconds)} * * * * *" : null,
            _ when interval < TimeSpan.FromHours(1) => Divides(interval.TotalMinutes, 60) ? $"0 */{N(interval.TotalMinutes)} * * * *" : null,
            _ when interval < TimeSpan.FromDays(1) => Divides(interval.TotalHours, 24) ? $"0 0 */{N(interval.TotalHours)} * * *" : null,
            _ => interval == TimeSpan.FromDays(1) ? "0 0 0 * * *" : null,
        };
    }
}
