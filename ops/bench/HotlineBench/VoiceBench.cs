using System.Diagnostics;
using System.Globalization;
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
        await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds), pace, (caller, step) => BareAsync(http, bare, token, caller, step));

        if (args.Contains("--by-step"))
        {
            foreach (var kind in new[] { 0, 1, 2, 3 })
            {
                var one = await MeasureAsync(1, TimeSpan.FromSeconds(3), TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, caller, (step * 4) + kind, onlyStep: true));
                ivrRequests += one.Requests;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {kind}: p50 {one.P50:F2} ms, p99 {one.P99:F2} ms"));
            }
        }

        var paced = await MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.FromSeconds(1), (caller, step) => IvrStepAsync(http, app, token, caller, step));
        var pacedBare = await MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.FromSeconds(1), (caller, step) => BareAsync(http, bare, token, caller, step));
        // Full load has code paths of its own (shared statements of many rows): warmed up too, unmeasured.
        ivrRequests += (await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds / 2), TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, 7000 + caller, step))).Requests;
        await MeasureAsync(calls, TimeSpan.FromSeconds(warmUpSeconds / 2), TimeSpan.Zero, (caller, step) => BareAsync(http, bare, token, caller, step));
        var peakIvr = await MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.Zero, (caller, step) => IvrStepAsync(http, app, token, caller, step));
        var peakBare = await MeasureAsync(calls, TimeSpan.FromSeconds(seconds), pause: TimeSpan.Zero, (caller, step) => BareAsync(http, bare, token, caller, step));

        Console.WriteLine();
        Console.WriteLine("| measurement | requests | throughput (req/s) | p50 (ms) | p99 (ms) |");
        Console.WriteLine("|---|---|---|---|---|");
        Row("IVR steps, paced (1 step/s per call)", paced);
        Row("bare TwiML endpoint, paced (1 step/s per call)", pacedBare);
        Row("IVR steps, peak (no pause)", peakIvr);
        Row("bare TwiML endpoint, peak", peakBare);
        var ratio = peakIvr.Throughput / peakBare.Throughput;
        var pacedRatio = paced.Throughput / pacedBare.Throughput;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"paced p99 {paced.P99:F1} ms (target < 10 ms): {(paced.P99 < 10 ? "met" : "NOT met")}; " +
            $"throughput at {calls} paced calls {pacedRatio:P0} of the bare endpoint's, at saturation {ratio:P0} " +
            $"(target >= 25%): {(ratio >= 0.25 ? "met at saturation" : "met only under the paced load, NOT at saturation")}; errors {paced.Errors + peakIvr.Errors}"));
        // voice.sh divides the app's CPU time and the database's commits by this.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"IVR requests in all: {ivrRequests + paced.Requests + peakIvr.Requests}"));
        return 0;
    }

    private const int WarmUpSteps = 200;

    private sealed record Result(int Requests, int Errors, double Throughput, double P50, double P99);

    private static void Row(string name, Result result) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {result.Requests} | {result.Throughput:F0} | {result.P50:F2} | {result.P99:F2} |"));

    private static async Task<Result> MeasureAsync(int callers, TimeSpan duration, TimeSpan pause, Func<int, int, Task<bool>> step)
    {
        var latencies = new List<double>[callers];
        var errors = 0;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
        {
            var own = latencies[caller] = [];
            // Spread the starts over the first pause so paced callers do not march in step.
            await Task.Delay(pause == TimeSpan.Zero ? TimeSpan.Zero : pause * caller / callers);
            for (var i = 0; stopwatch.Elapsed < duration; i++)
            {
                var started = Stopwatch.GetTimestamp();
                if (!await step(caller, i))
                {
                    Interlocked.Increment(ref errors);
                }
                own.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause);
                }
            }
        }));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Result(all.Length, errors, all.Length / stopwatch.Elapsed.TotalSeconds, Percentile(all, 0.50), Percentile(all, 0.99));
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
