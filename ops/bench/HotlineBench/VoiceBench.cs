using System.Diagnostics;
using System.Globalization;
using WsrHotline.Simulator;
using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// IVR step webhooks, signed as Twilio signs them, against the real app and database:
/// 1. paced: N concurrent calls, each walking incoming → language → main menu → status check with a
///    pause between steps (callers listen to prompts between webhooks): p50 and p99 per step;
/// 2. peak: the same steps with no pause, N in flight, beside the bare TwiML endpoint: throughput.
/// </summary>
public static class VoiceBench
{
    public static async Task<int> RunAsync(Uri app, Uri bare, string token, string[] args)
    {
        var calls = Option(args, "--calls", 200);
        var seconds = Option(args, "--seconds", 20);
        var warmUpSeconds = Option(args, "--warm-up", 20);
        // The processes' ids (voice.sh gives them): their CPU time is read over each measured phase.
        int? appPid = Option(args, "--app-pid", 0) is > 0 and var a ? a : null;
        int? barePid = Option(args, "--bare-pid", 0) is > 0 and var b ? b : null;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = calls, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });

        Console.WriteLine($"Voice IVR benchmark: {calls} concurrent calls, {seconds} s per phase; unmeasured warm-ups per endpoint: {warmUpSeconds} s paced, then {warmUpSeconds / 2} s at full load before the peak phases; {Environment.ProcessorCount} cores");
        await WarmUpAsync(http, app, bare, token);
        var ivrRequests = WarmUpSteps;
        // Both processes serve the paced load before anything is measured, so that .NET's tiered JIT
        // has compiled their hot paths: in the first half-minute it takes most of a core (measured: the
        // app at 70-85 % CPU while serving 190 requests/s), which a long-running hotline pays once.
        // Paced, not at full load: 100,000 calls written in 20 s left PostgreSQL vacuuming and
        // checkpointing through the measured phases. (Callers numbered from 5000 up: calls of their
        // own, not the measured callers' calls.)
        var pace = TimeSpan.FromSeconds(1);
        ivrRequests += (await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds), pace, (caller, step) => IvrStepAsync(http, app, token, 5000 + caller, step))).Requests;
        var bareRequests = (await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds), pace, (caller, step) => BareAsync(http, bare, token, caller, step))).Requests;

        if (args.Contains("--by-step"))
        {
            foreach (var kind in new[] { 0, 1, 2, 3 })
            {
                var one = await MeasureAsync(1, TimeSpan.FromSeconds(3), TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, caller, (step * 4) + kind, onlyStep: true));
                ivrRequests += one.Requests;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {kind}: p50 {one.P50:F2} ms, p99 {one.P99:F2} ms"));
            }
        }

        var attempts = Option(args, "--attempts", 3);
        // Each attempt of a phase has callers of its own (paced from 0, peak from 2500, 500 more for each attempt), so no call is posted twice.
        var (paced, pacedBare) = await MeasurePairAsync("paced", attempts, firstCaller: 0,
            callers => WithCpuAsync(appPid, () => MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.FromSeconds(1), (caller, step) => IvrStepAsync(http, app, token, callers + caller, step))),
            () => WithCpuAsync(barePid, () => MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.FromSeconds(1), (caller, step) => BareAsync(http, bare, token, caller, step))));
        ivrRequests += paced.EarlierRequests;
        bareRequests += pacedBare.EarlierRequests + pacedBare.Requests;
        // Full load has code paths of its own (shared statements of many rows): warmed up too, unmeasured.
        ivrRequests += (await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds / 2), TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, 7000 + caller, step))).Requests;
        bareRequests += (await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds / 2), TimeSpan.Zero, (caller, step) => BareAsync(http, bare, token, caller, step))).Requests;
        var (peakIvr, peakBare) = await MeasurePairAsync("peak", attempts, firstCaller: 2500,
            callers => WithCpuAsync(appPid, () => MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, callers + caller, step))),
            () => WithCpuAsync(barePid, () => MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.Zero, (caller, step) => BareAsync(http, bare, token, caller, step))));
        ivrRequests += peakIvr.EarlierRequests;
        bareRequests += peakBare.EarlierRequests + peakBare.Requests;

        Console.WriteLine();
        Console.WriteLine("| measurement | requests | throughput (req/s) | p50 (ms) | p99 (ms) | CPU stolen by the host |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Row("IVR steps, paced (1 step/s per call)", paced);
        Row("bare TwiML endpoint, paced (1 step/s per call)", pacedBare);
        Row("IVR steps, peak (no pause)", peakIvr);
        Row("bare TwiML endpoint, peak", peakBare);
        Console.WriteLine();
        Tail("IVR steps, paced", paced);
        Tail("bare TwiML endpoint, paced", pacedBare);
        var ratio = peakIvr.Throughput / peakBare.Throughput;
        var pacedRatio = paced.Throughput / pacedBare.Throughput;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"paced p99 {paced.P99:F1} ms (target < 10 ms): {(paced.P99 < 10 ? "met" : "NOT met")}; " +
            $"throughput at {calls} paced calls {pacedRatio:P0} of the bare endpoint's, at saturation {ratio:P0} " +
            $"(target >= 25%): {(ratio >= 0.25 ? "met at saturation" : "met only under the paced load, NOT at saturation")}; errors {paced.Errors + peakIvr.Errors}"));
        foreach (var (phase, ivr, bareResult) in new[] { ("paced (the design load)", paced, pacedBare), ("peak", peakIvr, peakBare) })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"CPU per request, {phase}: app {ivr.CpuMs:F3} ms per IVR step, bare {bareResult.CpuMs:F3} ms per request: {ivr.CpuMs / bareResult.CpuMs:F1}x"));
        }
        if (!new[] { paced, pacedBare, peakIvr, peakBare }.All(result => StolenCpu.IsQuiet(result.Stolen)))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"DISTURBED: the host took more than {StolenCpu.QuietLimit:P0} of the CPU in every attempt of a phase: these figures measure the neighbours as much as the code"));
        }
        // voice.sh divides the app's CPU time and the database's commits by this.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"IVR requests in all: {ivrRequests + paced.Requests + peakIvr.Requests}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bare requests in all: {bareRequests}"));
        return 0;
    }

    private const int WarmUpSteps = 200;

    private static async Task<Result> WithCpuAsync(int? pid, Func<Task<Result>> measure)
    {
        var cpu = new ProcessCpu(pid);
        var result = await measure();
        return result with { CpuMs = cpu.PerRequestMs(result.Requests) };
    }

    /// <param name="Slow">Paced requests over the paced target, as (start in seconds from the phase's start, latency in ms); none for full-load phases.</param>
    private sealed record Result(int Requests, int Errors, double Throughput, double P50, double P99, DateTime StartedUtc, IReadOnlyList<(double At, double Ms)> Slow)
    {
        /// <summary>The share of the CPU the host took during the phase (<see cref="StolenCpu"/>).</summary>
        public double Stolen { get; init; }

        /// <summary>The measured process's CPU time per request over this phase (<see cref="ProcessCpu"/>); NaN if not measured.</summary>
        public double CpuMs { get; init; } = double.NaN;

        /// <summary>IVR requests of earlier, disturbed attempts of this phase (they count in the work per step).</summary>
        public int EarlierRequests { get; init; }
    }

    private const double PacedTargetMs = 10;

    private static void Row(string name, Result result) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {result.Requests} | {result.Throughput:F0} | {result.P50:F2} | {result.P99:F2} | {result.Stolen:P1} |"));

    /// <summary>
    /// Measures the IVR and the bare endpoint one after the other, and again (up to
    /// <paramref name="attempts"/> times) while the host took more than <see cref="StolenCpu.QuietLimit"/>
    /// of the CPU in either: every attempt is printed; the first quiet one is kept, else the least
    /// disturbed, flagged in the summary.
    /// </summary>
    private static async Task<(Result Ivr, Result Bare)> MeasurePairAsync(
        string phase, int attempts, int firstCaller, Func<int, Task<Result>> ivr, Func<Task<Result>> bare)
    {
        (Result Ivr, Result Bare)? kept = null;
        var earlier = 0;
        var earlierBare = 0;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            var ivrSteal = new StolenCpu();
            var ivrResult = (await ivr(firstCaller + (500 * (attempt - 1)))) with { Stolen = ivrSteal.Share() };
            var bareSteal = new StolenCpu();
            var bareResult = (await bare()) with { Stolen = bareSteal.Share() };
            var quiet = StolenCpu.IsQuiet(ivrResult.Stolen) && StolenCpu.IsQuiet(bareResult.Stolen);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{phase}, attempt {attempt}: IVR {ivrResult.Throughput:F0} req/s, p99 {ivrResult.P99:F2} ms ({StolenCpu.Describe(ivrResult.Stolen)}); " +
                $"bare {bareResult.Throughput:F0} req/s, p99 {bareResult.P99:F2} ms ({StolenCpu.Describe(bareResult.Stolen)}){(quiet ? "" : ": disturbed")}"));
            var worst = Math.Max(ivrResult.Stolen, bareResult.Stolen);
            if (kept is not { } best || worst < Math.Max(best.Ivr.Stolen, best.Bare.Stolen))
            {
                earlier += kept?.Ivr.Requests ?? 0;
                earlierBare += kept?.Bare.Requests ?? 0;
                kept = (ivrResult, bareResult);
            }
            else
            {
                earlier += ivrResult.Requests;
                earlierBare += bareResult.Requests;
            }
            if (quiet)
            {
                break;
            }
        }
        var (keptIvr, keptBare) = kept!.Value;
        return (keptIvr with { EarlierRequests = earlier }, keptBare with { EarlierRequests = earlierBare });
    }

    /// <summary>
    /// Where in time the paced requests over the target started, in 100 ms windows: a few crowded
    /// windows are stalls (a pause, a job, the database's background work), to be matched against
    /// their clock time; requests spread evenly are the steady cost.
    /// </summary>
    private static void Tail(string name, Result result)
    {
        var windows = result.Slow
            .GroupBy(request => Math.Floor(request.At * 10) / 10)
            .Select(window => (At: window.Key, Count: window.Count(), Worst: window.Max(request => request.Ms)))
            .OrderByDescending(window => window.Count)
            .ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {result.Slow.Count} of {result.Requests} requests took {PacedTargetMs} ms or more, in {windows.Count} windows of 100 ms; the most crowded:"));
        foreach (var (at, count, worst) in windows.Take(8))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {result.StartedUtc.AddSeconds(at):HH:mm:ss.f} UTC (+{at:F1} s): {count} requests, worst {worst:F1} ms"));
        }
    }

    private static async Task<Result> MeasureAsync(int callers, TimeSpan duration, TimeSpan pause, Func<int, int, Task<bool>> step)
    {
        var latencies = new List<double>[callers];
        var slow = new System.Collections.Concurrent.ConcurrentBag<(double At, double Ms)>();
        var errors = 0;
        var startedUtc = DateTime.UtcNow;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
        {
            var own = latencies[caller] = [];
            // Spread the starts over the first pause so paced callers do not march in step.
            await Task.Delay(pause == TimeSpan.Zero ? TimeSpan.Zero : pause * caller / callers);
            for (var i = 0; stopwatch.Elapsed < duration; i++)
            {
                var at = stopwatch.Elapsed.TotalSeconds;
                var started = Stopwatch.GetTimestamp();
                if (!await step(caller, i))
                {
                    Interlocked.Increment(ref errors);
                }
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                own.Add(ms);
                // Paced phases only: at full load nearly every request is over, and collecting them
                // would load the load generator.
                if (pause > TimeSpan.Zero && ms >= PacedTargetMs)
                {
                    slow.Add((at, ms));
                }
                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause);
                }
            }
        }));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Result(all.Length, errors, all.Length / stopwatch.Elapsed.TotalSeconds, Percentile(all, 0.50), Percentile(all, 0.99),
            startedUtc, [.. slow.OrderBy(request => request.At)]);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    // Each caller walks the IVR as a worker would: a new call every four steps.
    private static Task<bool> IvrStepAsync(HttpClient http, Uri app, string token, int caller, int step, bool onlyStep = false)
    {
        var callSid = string.Create(CultureInfo.InvariantCulture, $"CAbench{caller:D4}{step / 4:D8}{Environment.ProcessId:D8}");
        var from = string.Create(CultureInfo.InvariantCulture, $"+1555{caller % 1000:D3}{step % 10000:D4}");
        return (step % 4) switch
        {
            0 => PostAsync(http, app, token, "/twilio/voice/incoming", callSid, from, []),
            1 => PostAsync(http, app, token, "/twilio/voice/language?attempt=1", callSid, from, [("Digits", "2")]),
            2 => PostAsync(http, app, token, "/twilio/voice/step/main_menu/input?lang=es&attempt=1", callSid, from, [("Digits", "2")]),
            _ => PostAsync(http, app, token, "/twilio/voice/status/case?lang=es&attempt=1", callSid, from, [("Digits", "12345674")]),
        };
    }

    // The same signed form as an IVR step, to the bare endpoint.
    private static Task<bool> BareAsync(HttpClient http, Uri bare, string token, int caller, int step) =>
        PostAsync(http, bare, token, "/twiml", string.Create(CultureInfo.InvariantCulture, $"CAbare{caller:D4}{step:D8}"), "+15555550100", []);

    private static async Task<bool> PostAsync(HttpClient http, Uri app, string token, string pathAndQuery, string callSid, string from, (string, string)[] extra)
    {
        var url = new Uri(app, pathAndQuery).ToString();
        var form = new List<KeyValuePair<string, string>>
        {
            new("AccountSid", "AC00000000000000000000000000000000"),
            new("CallSid", callSid),
            new("From", from),
            new("To", "+18005550100"),
            new("CallStatus", "in-progress"),
            new("Direction", "inbound"),
        };
        form.AddRange(extra.Select(pair => KeyValuePair.Create(pair.Item1, pair.Item2)));
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(token, url, form));
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        // A 200 with the emergency ring-through would hide a database failure: count it as an error.
        return response.IsSuccessStatusCode && !body.Contains("emergency", StringComparison.Ordinal);
    }

    private static async Task WarmUpAsync(HttpClient http, Uri app, Uri bare, string token)
    {
        for (var i = 0; i < WarmUpSteps; i++)
        {
            await IvrStepAsync(http, app, token, 9999, i);
            await BareAsync(http, bare, token, 9999, i);
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
