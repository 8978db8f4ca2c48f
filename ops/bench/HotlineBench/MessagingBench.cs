using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// Signed inbound SMS webhooks against the real app and database, open loop: at each rate, requests
/// start on a fixed schedule whether or not earlier ones have finished, and latency is counted from
/// the scheduled start, so a slow server cannot hide its queue. After a warm-up in which each of the
/// worker numbers texts once, most messages join an existing conversation and complaint. Then
/// pgbench's single-row insert throughput on the same PostgreSQL, for comparison.
/// </summary>
public static partial class MessagingBench
{
    private const int Workers = 2000;
    private const double P99TargetMs = 25;
    private const int TargetRate = 1000;

    private static readonly string[] Bodies =
    [
        "No nos pagaron las horas extra de la semana pasada en el almacén.",
        "El supervisor nos grita y amenaza con despedirnos si vamos al baño.",
        "We worked twelve hours yesterday without a break or water in the field.",
        "My wages were short again this month and nobody explains why.",
        "Nos quitaron el pasaporte cuando llegamos y no nos lo devuelven.",
        "There is no protective equipment for the chemicals we spray.",
        "Quiero saber qué pasa con mi queja, nadie me ha llamado todavía.",
        "They charge us for housing and transport and the pay is almost nothing.",
    ];

    public static async Task<int> RunAsync(Uri app, string token, string[] args)
    {
        var rates = Option(args, "--rates", "250,500,1000,2000").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();
        var seconds = int.Parse(Option(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        // At most 256 connections, as a bounded sender would use: beyond the app's capacity, requests
        // wait for a connection (still counted from their scheduled start) instead of exhausting the
        // machine's file descriptors (unbounded, both processes crashed at 3,000/s on 2 cores).
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var url = new Uri(app, "/twilio/messaging/incoming").ToString();
        var sequence = 0;
        Task<bool> SendNext(int worker)
        {
            var n = Interlocked.Increment(ref sequence);
            return PostSmsAsync(http, url, token, string.Create(CultureInfo.InvariantCulture, $"SMbench{Environment.ProcessId:D8}{n:D17}"),
                string.Create(CultureInfo.InvariantCulture, $"+1555{worker:D7}"), Bodies[n % Bodies.Length]);
        }

        Console.WriteLine($"Messaging benchmark: signed inbound SMS webhooks, open loop, {seconds} s per rate, {Workers} worker numbers, {Environment.ProcessorCount} cores");
        var warmUp = await WarmUpAsync(SendNext);
        Console.WriteLine($"warm-up: each worker number texted once ({warmUp} errors)");

        var results = new List<Result>();
        foreach (var rate in rates)
        {
            var result = await MeasureAsync(rate, TimeSpan.FromSeconds(seconds), SendNext);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rate}/s offered: {result.Throughput:F0}/s achieved, p50 {result.P50:F2} ms, p99 {result.P99:F2} ms, {result.Errors} errors"));
            results.Add(result);
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        var pgbenchTps = Option(args, "--pgbench", "") is { Length: > 0 } pgbench
            ? await RunPgbenchAsync(pgbench, Option(args, "--pg-port", "5432"), Option(args, "--pg-database", "wsr_bench"))
            : double.NaN;

        Console.WriteLine();
        Console.WriteLine("| offered (msg/s) | achieved (msg/s) | p50 (ms) | p99 (ms) | errors |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var result in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {result.Rate:N0} | {result.Throughput:N0} | {result.P50:F2} | {result.P99:F2} | {result.Errors} |"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| pgbench single-row INSERT, 16 clients | {pgbenchTps:N0} tps | | | |"));

        var sustained = results.Where(Sustained).Select(r => r.Rate).DefaultIfEmpty(0).Max();
        var atTarget = results.FirstOrDefault(r => r.Rate == TargetRate);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"highest rate sustained (p99 < {P99TargetMs} ms, no errors, >= 95 % of offered achieved): {sustained:N0}/s; " +
            $"half of pgbench: {pgbenchTps / 2:N0}/s: {(sustained >= pgbenchTps / 2 ? "met" : "NOT met")}"));
        Console.WriteLine(atTarget is null
            ? $"p99 at {TargetRate}/s: not measured (add {TargetRate} to --rates)"
            : string.Create(CultureInfo.InvariantCulture,
                $"p99 at {TargetRate:N0}/s: {atTarget.P99:F1} ms (target < {P99TargetMs} ms, no errors): {(Sustained(atTarget) ? "met" : "NOT met")}"));
        return 0;
    }

    private sealed record Result(int Rate, int Requests, int Errors, double Throughput, double P50, double P99);

    private static bool Sustained(Result result) =>
        result.P99 < P99TargetMs && result.Errors == 0 && result.Throughput >= 0.95 * result.Rate;

    private static async Task<Result> MeasureAsync(int rate, TimeSpan duration, Func<int, Task<bool>> send)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var errors = 0;
        var inFlight = new List<Task>(total);
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            if (due > stopwatch.Elapsed)
            {
                await Task.Delay(due - stopwatch.Elapsed);
            }
            var index = i;
            inFlight.Add(Task.Run(async () =>
            {
                if (!await send(Random.Shared.Next(Workers)))
                {
                    Interlocked.Increment(ref errors);
                }
                // From the scheduled start, not the actual one: a late sender counts against the app.
                latencies[index] = (stopwatch.Elapsed - due).TotalMilliseconds;
            }));
        }
        await Task.WhenAll(inFlight);
        var elapsed = stopwatch.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return new Result(rate, total, errors, total / elapsed, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static async Task<int> WarmUpAsync(Func<int, Task<bool>> send)
    {
        var errors = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Workers), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (worker, _) =>
        {
            if (!await send(worker))
            {
                Interlocked.Increment(ref errors);
            }
        });
        return errors;
    }

    /// <summary>An inbound SMS webhook signed as Twilio signs it, to <paramref name="url"/>; true for a 200 answer.</summary>
    public static async Task<bool> PostSmsAsync(HttpClient http, string url, string token, string messageSid, string from, string body)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("MessageSid", messageSid),
            new("AccountSid", "AC00000000000000000000000000000000"),
            new("From", from),
            new("To", "+18005550101"),
            new("Body", body),
            new("NumMedia", "0"),
        };
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
            request.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(token, url, form));
            using var response = await http.SendAsync(request);
            return response.StatusCode == System.Net.HttpStatusCode.OK;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    // pgbench's own client over the same loopback: one single-row INSERT per transaction into a scratch table.
    private static async Task<double> RunPgbenchAsync(string pgbench, string port, string database)
    {
        var script = Path.GetTempFileName();
        await File.WriteAllTextAsync(script, "INSERT INTO bench_insert (body) VALUES ('No nos pagaron las horas extra de la semana pasada.');\n");
        try
        {
            var start = new ProcessStartInfo(pgbench) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-n", "-f", script, "-c", "16", "-j", "2", "-T", "10", database })
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start) ?? throw new InvalidOperationException("pgbench did not start");
            var errorOutput = process.StandardError.ReadToEndAsync();
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Console.WriteLine();
            Console.WriteLine("pgbench (-c 16 -j 2 -T 10, one single-row INSERT per transaction):");
            Console.WriteLine(output.TrimEnd());
            var match = TpsLine().Match(output);
            if (process.ExitCode != 0 || !match.Success)
            {
                Console.Error.WriteLine(await errorOutput);
                return double.NaN;
            }
            return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex TpsLine();

    private static string Option(string[] args, string name, string fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
    }
}
