using Hangfire;
using Hangfire.Common;

namespace WsrHotline.Jobs;

/// <summary>
/// Hangfire's <see cref="AutomaticRetryAttribute"/> for the jobs that retry (a reply, a download, a
/// buyer delivery), built from their settings instead of constants in an attribute: each capability
/// registers its job with <see cref="JobsExtensions.AddJobRetry{TJob}"/>. A job that records its last
/// failure throws <see cref="JobGaveUpException"/>, which goes to Hangfire's Failed list at once.
/// </summary>
/// <remarks>
/// The attributes are built once, when the host first needs its filters: an attribute takes its
/// logger from Hangfire's process-wide log provider when it is built, and that provider is the
/// host's own only while the host lives (several hosts share a process in the tests).
/// </remarks>
public sealed class JobRetries(IServiceProvider services, IEnumerable<JobRetryRegistration> registrations) : IJobFilterProvider
{
    private readonly Dictionary<Type, JobFilter> _retries = registrations.ToDictionary(
        registration => registration.JobType,
        registration => new JobFilter(registration.Retry(services), JobFilterScope.Method, order: null));

    public IEnumerable<JobFilter> GetFilters(Job job) =>
        job?.Type is { } type && _retries.TryGetValue(type, out var retry) ? [retry] : [];

    /// <summary>
    /// <paramref name="maxAttempts"/> runs in all, the n-th retry <paramref name="baseDelay"/> × 2^(n−1)
    /// later (at most a day); whole seconds, as Hangfire schedules them.
    /// </summary>
    public static AutomaticRetryAttribute Exponential(int maxAttempts, TimeSpan baseDelay) => new()
    {
        Attempts = Math.Max(maxAttempts - 1, 0),
        DelayInSecondsByAttemptFunc = retry =>
            (int)Math.Min(baseDelay.TotalSeconds * Math.Pow(2, Math.Max(retry - 1, 0)), TimeSpan.FromDays(1).TotalSeconds),
        ExceptOn = [typeof(JobGaveUpException)],
        OnAttemptsExceeded = AttemptsExceededAction.Fail,
    };
}

/// <summary>One job type's retry, as <see cref="JobsExtensions.AddJobRetry{TJob}"/> registered it.</summary>
public sealed record JobRetryRegistration(Type JobType, Func<IServiceProvider, AutomaticRetryAttribute> Retry);

/// <summary>
/// The job has recorded its work item's final failure (on the row, the timeline, the dashboard):
/// Hangfire puts it in its Failed list without another retry.
/// </summary>
public sealed class JobGaveUpException(string message) : Exception(message);

/// <summary>The job has put its work item back for another attempt: Hangfire retries it after the backoff.</summary>
public sealed class JobWillRetryException(string message) : Exception(message);
