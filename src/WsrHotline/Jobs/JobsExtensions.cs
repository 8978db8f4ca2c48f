using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Staff;

namespace WsrHotline.Jobs;

public static class JobsExtensions
{
    /// <summary>
    /// Hangfire on the hotline's PostgreSQL (schema <c>hangfire</c>): the storage and client on every
    /// instance (the dashboard reads them), and unless <c>Jobs:Enabled</c> is false this instance's
    /// server, which runs the recurring jobs.
    /// </summary>
    public static IServiceCollection AddHotlineJobs(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<JobsOptions>()
            .BindConfiguration("Jobs")
            .Validate(o => o.Intervals().All(interval => JobsOptions.Cron(interval) is not null),
                "Jobs: SweepInterval, DeliveryInterval, CoverageInterval, CheckinInterval, DashboardInterval and ReconciliationInterval " +
                "must each be whole seconds dividing a minute (e.g. 00:00:15), whole minutes dividing an hour (00:10:00), " +
                "whole hours dividing a day (06:00:00), or one day (1.00:00:00, at midnight UTC).")
            .Validate(o => o.WorkerCount is >= 1 and <= 50, "Jobs:WorkerCount must be between 1 and 50 (default 5).")
            .ValidateOnStart();
        // Hangfire's own tables, in their schema, installed or upgraded before any job server starts.
        services.AddStartupStep("Hangfire schema", (provider, ct) =>
            JobsSchema.InstallAsync(provider.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString, ct));

        // This host's storage and job activator, registered before AddHangfire, which adds its own
        // only when missing: those read Hangfire's process-wide JobStorage.Current and
        // JobActivator.Current, where the last host configured wins when several share a process (tests).
        services.AddSingleton<JobStorage>(provider =>
        {
            var connectionString = provider.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString;
            var hangfireConnection = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "wsr-hotline-jobs" }.ConnectionString;
            return provider.GetRequiredService<IGlobalConfiguration>()
                .UsePostgreSqlStorage(bootstrap => bootstrap.UseNpgsqlConnection(hangfireConnection), StorageOptions())
                .Entry;
        });
        services.AddSingleton<JobActivator>(provider => new AspNetCoreJobActivator(provider.GetRequiredService<IServiceScopeFactory>()));
        // Hangfire's own filters (its default retry among them), and the retries of the jobs that retry.
        services.AddSingleton<JobRetries>();
        services.AddSingleton<IJobFilterProvider>(provider =>
        {
            // The storage first: it configures Hangfire for this host (its log provider among the rest),
            // so the retry attributes JobRetries builds log through this host.
            provider.GetRequiredService<JobStorage>();
            return new JobFilterProviderCollection(JobFilterProviders.Providers, provider.GetRequiredService<JobRetries>());
        });
        services.AddHangfire((provider, hangfire) => hangfire
            .UseLogProvider(new HangfireLogging(provider.GetRequiredService<ILoggerFactory>()))
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings());

        var jobs = configuration.GetSection("Jobs").Get<JobsOptions>() ?? new JobsOptions();
        if (jobs.Enabled)
        {
            services.AddHostedService<JobServerHost>();
        }
        return services;
    }

    /// <summary>
    /// Hangfire retries <typeparamref name="TJob"/>'s jobs as <paramref name="retry"/> says (usually
    /// <see cref="JobRetries.Exponential"/> with the capability's attempt count and backoff).
    /// </summary>
    public static IServiceCollection AddJobRetry<TJob>(this IServiceCollection services, Func<IServiceProvider, AutomaticRetryAttribute> retry) =>
        services.AddSingleton(new JobRetryRegistration(typeof(TJob), retry));

    /// <summary>Hangfire's dashboard at <c>/hangfire</c>, for admins signed in with the staff cookie.</summary>
    public static IEndpointRouteBuilder MapJobsDashboard(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHangfireDashboard("/hangfire", new DashboardOptions
        {
            DashboardTitle = "WSR Hotline jobs",
            AppPath = "/dashboard",
            Authorization = [],
            AsyncAuthorization = [new AdminOnlyDashboardFilter()],
        }).RequireAuthorization(StaffPolicies.Admin);
        return endpoints;
    }

    private static PostgreSqlStorageOptions StorageOptions() => new()
    {
        SchemaName = JobsSchema.Name,
        // Installed by the start-up step under a lock (JobsSchema), not in the storage's constructor.
        PrepareSchemaIfNecessary = false,
        // LISTEN/NOTIFY: a job enqueued on any instance wakes a worker on every instance at once,
        // instead of at the next queue poll.
        EnableLongPolling = true,
        // How long a lock (DisableConcurrentExecution, Hangfire's own) outlives an instance killed
        // while holding it: a minute, not Hangfire's ten, so a dead instance cannot stop the sweep
        // for long. A live holder past a minute is harmless: the services claim their work.
        DistributedLockTimeout = TimeSpan.FromMinutes(1),
        // A running job keeps its fetch alive; one whose instance was killed is fetched again, by a
        // live instance, this long after its last sign of life (its job then sees what the dead
        // attempt left: a reply handed over is failed, not resent; a download is tried again).
        UseSlidingInvisibilityTimeout = true,
        InvisibilityTimeout = TimeSpan.FromMinutes(2),
    };
}
