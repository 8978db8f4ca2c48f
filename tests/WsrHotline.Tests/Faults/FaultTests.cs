using System.Diagnostics;
using WsrHotline.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WsrHotline.Tests.Faults;

/// <summary>
/// The hotline as real separate processes under faults: an instance killed with SIGKILL mid-burst, and
/// PostgreSQL stopped and started mid-burst. What is promised: every text stored once and in order,
/// every reply posted to Twilio once (none lost, none twice), every voicemail stored.
/// <c>WSR_FAULTS_SCALE=N</c> runs N times the texts and calls with N faults (README, Test it).
/// </summary>
public sealed class FaultTests(ITestOutputHelper output)
{
    /// <summary>
    /// How long the hotline may take to finish after the fault: a reply job that was running on the
    /// killed instance is fetched again by the live one after Hangfire's invisibility timeout (2 min).
    /// </summary>
    private static readonly TimeSpan Settling = TimeSpan.FromMinutes(3);

    /// <summary>An instance's settings, as an in-process host of the same options would have them.</summary>
    private static Dictionary<string, string?> Settings(string connectionString, TwilioStandIn twilio, string name) =>
        new TestHostOptions(connectionString)
        {
            Settings = settings =>
            {
                settings["Twilio:ApiBaseUrl"] = twilio.BaseUrlFor(name);
                // Replies go out through Hangfire's jobs, on both instances.
                settings["Jobs:Enabled"] = "true";
                settings["Messaging:InboxPollInterval"] = "00:00:00.2";
                settings["Messaging:SendRetryBaseDelay"] = "00:00:01";
                // The spool alone must keep every webhook met by an outage: no reconciliation run rescues what it lost
                // (reconciliation against Twilio's lists is tested in Messaging/ReconciliationTests).
                settings["Reconciliation:AfterOutage"] = "false";
                settings["Logging:LogLevel:Default"] = "Warning";
                settings["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information";
            },
        }.AppSettings();

    [Fact]
    public async Task Two_instances_one_killed_mid_burst_lose_no_text_reply_or_voicemail_and_send_no_reply_twice()
    {
        var stopwatch = Stopwatch.StartNew();
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var connectionString = PostgresServer.ConnectionStringFor(database);
        var instances = new HotlineProcess?[2];
        try
        {
            await using var twilio = await TwilioStandIn.StartAsync();
            string[] names = ["A", "B"];
            // An instance restarted after its kill keeps its settings, its spool among them (it replays what it kept).
            var settings = names.ToDictionary(name => name, name => Settings(connectionString, twilio, name));
            var started = await Task.WhenAll(names.Select(name => HotlineProcess.StartAsync(name, settings[name], output)));
            started.CopyTo(instances, 0);
            var burst = new FaultBurst(workers: 30 * FaultBurst.Scale, textsPerWorker: 10, calls: 20 * FaultBurst.Scale);
            using var webhooks = new TwilioStyleWebhooks(i => instances[i]?.BaseAddress, instances.Length);
            output.WriteLine($"started in {stopwatch.Elapsed.TotalSeconds:F1} s; {burst.Webhooks} webhooks, {FaultBurst.Scale} kill(s)");

            // The victim's sender is held in its first POST: the kill lands while it hands a reply over
            // (a sender that had claimed a batch would then hold many more), and while webhooks are in flight.
            twilio.Hold(instances[0]!.Name);
            await burst.RunAsync(webhooks, FaultBurst.Scale + 1, async (kill, answeredAtStart, answeredAtEnd) =>
            {
                var index = (kill - 1) % 2;
                var victim = instances[index]!;
                // A few answers into the phase: most of its webhooks are still to come or in flight.
                await burst.AnsweredAtLeastAsync(Math.Min(answeredAtStart + 10, answeredAtEnd), TimeSpan.FromSeconds(60));
                victim.Kill();
                output.WriteLine($"killed {victim.Name} at {stopwatch.Elapsed.TotalSeconds:F1} s, {burst.Answered}/{burst.Webhooks} webhooks answered");
                twilio.ReleaseAll();
                if (kill < FaultBurst.Scale)
                {
                    await victim.DisposeAsync();
                    instances[index] = await HotlineProcess.StartAsync(victim.Name, settings[victim.Name], output);
                    twilio.Hold(instances[kill % 2]!.Name);
                }
            }, ready: async kill =>
            {
                var victim = instances[(kill - 1) % 2]!;
                // Looked at often: the kill is meant to land while this POST is held.
                await Eventually.TrueAsync(() => twilio.Held(victim.Name) > 0, $"{victim.Name}'s sender posted a reply",
                    TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(5));
            });
            output.WriteLine($"burst done at {stopwatch.Elapsed.TotalSeconds:F1} s; {webhooks.Retries} webhooks retried on another instance");
            await FaultBurst.SettledAsync(connectionString, Settling, instances);

            var summary = await burst.AssertKeptAsync(connectionString, twilio, interruptedAllowed: FaultBurst.Scale * 5, output);
            output.WriteLine($"{summary}; {stopwatch.Elapsed.TotalSeconds:F1} s in all");
            AssertNoPii(instances, burst);
        }
        finally
        {
            foreach (var instance in instances)
            {
                if (instance is not null)
                {
                    await instance.DisposeAsync();
                }
            }
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task PostgreSQL_stopped_and_started_mid_burst_loses_no_text_reply_or_voicemail_and_sends_no_reply_twice()
    {
        var stopwatch = Stopwatch.StartNew();
        await using var postgres = await ThrowawayPostgres.StartAsync("wsr_faults");
        var connectionString = postgres.ConnectionStringFor("wsr_faults");
        var instances = new HotlineProcess?[2];
        try
        {
            await using var twilio = await TwilioStandIn.StartAsync();
            // Longer than the outage, so a reply posted just before it still has its outcome written after it.
            string[] names = ["A", "B"];
            var started = await Task.WhenAll(names.Select(name => HotlineProcess.StartAsync(name, Settings(connectionString, twilio, name), output)));
            started.CopyTo(instances, 0);
            var burst = new FaultBurst(workers: 30 * FaultBurst.Scale, textsPerWorker: 10, calls: 20 * FaultBurst.Scale);
            using var webhooks = new TwilioStyleWebhooks(i => instances[i]?.BaseAddress, instances.Length);
            output.WriteLine($"started in {stopwatch.Elapsed.TotalSeconds:F1} s; {burst.Webhooks} webhooks, {FaultBurst.Scale} restart(s)");

            await burst.RunAsync(webhooks, FaultBurst.Scale + 1, async (_, answeredAtStart, answeredAtEnd) =>
            {
                await burst.AnsweredAtLeastAsync(Math.Min(answeredAtStart + 10, answeredAtEnd), TimeSpan.FromSeconds(60));
                await postgres.StopPostgresAsync();
                var stoppedAt = burst.Answered;
                output.WriteLine($"PostgreSQL stopped at {stopwatch.Elapsed.TotalSeconds:F1} s, {stoppedAt}/{burst.Webhooks} webhooks answered");
                // Down until webhooks have met the outage.
                await burst.AnsweredAtLeastAsync(Math.Min(answeredAtEnd, stoppedAt + 20), TimeSpan.FromSeconds(30));
                await postgres.StartPostgresAsync();
                output.WriteLine($"PostgreSQL started at {stopwatch.Elapsed.TotalSeconds:F1} s; {burst.Answered - stoppedAt} webhooks answered while it was down");
            });
            output.WriteLine($"burst done at {stopwatch.Elapsed.TotalSeconds:F1} s; {webhooks.Retries} webhooks retried on another instance");
            await FaultBurst.SettledAsync(connectionString, Settling, instances);
            await VoicemailsReplayedAsync(burst, connectionString);

            var summary = await burst.AssertKeptAsync(connectionString, twilio, interruptedAllowed: 0, output);
            output.WriteLine($"{summary}; {stopwatch.Elapsed.TotalSeconds:F1} s in all");
            AssertNoPii(instances, burst);
        }
        finally
        {
            foreach (var instance in instances)
            {
                if (instance is not null)
                {
                    await instance.DisposeAsync();
                }
            }
        }
    }

    /// <summary>
    /// Webhooks kept in an instance's voice spool during the outage are stored a few seconds after it
    /// (every voicemail stored is also one of the promises <see cref="FaultBurst.AssertKeptAsync"/> checks).
    /// </summary>
    private static async Task VoicemailsReplayedAsync(FaultBurst burst, string connectionString)
    {
        long stored = 0;
        await Eventually.TrueAsync(async () =>
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            stored = await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection,
                "SELECT count(*) FROM calls WHERE call_sid LIKE @calls AND recording_sid IS NOT NULL", new { calls = burst.CallSid(0)[..10] + "%" });
            return stored >= burst.Calls;
        }, () => $"every voicemail stored after the outage (only {stored} of {burst.Calls})", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
    }

    private static void AssertNoPii(IEnumerable<HotlineProcess?> instances, FaultBurst burst)
    {
        var printed = string.Join('\n', instances.Where(i => i is not null).SelectMany(i => i!.Output));
        Assert.DoesNotContain(FaultBurst.Worker(0)[2..], printed, StringComparison.Ordinal);
        Assert.DoesNotContain("shouted at us", printed, StringComparison.Ordinal);
    }
}
