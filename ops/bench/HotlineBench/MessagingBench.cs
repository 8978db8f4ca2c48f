using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;
using WsrHotline.Simulator;
using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// Signed inbound SMS webhooks against the real app and database, open loop: at each rate, requests
/// start on a fixed schedule whether or not earlier ones have finished, and latency is counted from
/// the scheduled start, so a slow server cannot hide its queue. After a warm-up in which each of the
/// worker numbers texts once, most messages join an existing conversation and complaint. The webhook
/// answers once a message is in the inbox; after each rate the benchmark waits until the inbox is
/// drained (every message processed) and reports the processing rate, from the database's own
/// timestamps. Then pgbench's single-row insert throughput on the same PostgreSQL, for comparison.
/// </summary>
public static partial class MessagingBench
{
    private const int Workers = 2000;
    private const double P99TargetMs = 25;
    /// <summary>Processing keeps up when the inbox is empty this soon after the last text was kept.</summary>
    private const double KeptUpSeconds = 2;

    /// <summary>The design load (DESIGN.md): 100 texts a second.</summary>
    private const int TargetRate = 100;

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
        var rates = Option(args, "--rates", "100,250,500,1000,2000").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();
        var seconds = int.Parse(Option(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        await using var dataSource = NpgsqlDataSource.Create(Option(args, "--db", ""));
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
        var warmUpFrom = await MarkAsync(dataSource);
        var warmUp = await WarmUpAsync(SendNext);
        var warmUpDrain = await DrainAsync(dataSource, warmUpFrom, await MarkAsync(dataSource));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"warm-up: each worker number texted once ({warmUp} errors); processed at {warmUpDrain.Rate:F0}/s"));

        // Then the first rate, unmeasured, for --warm-up seconds: the one-message-at-a-time warm-up above
        // leaves the paths of full load (shared statements of many rows, batches) to .NET's tiered JIT,
        // which compiled them during the first measured rate (measured: p99 37 ms in a first 1,000/s
        // phase, 20 ms in the same phase run again right after). A hotline that runs for days pays it once.
        var warmUpSeconds = int.Parse(Option(args, "--warm-up", "10"), CultureInfo.InvariantCulture);
        if (warmUpSeconds > 0)
        {
            var from = await MarkAsync(dataSource);
            var warm = await MeasureAsync(rates[0], TimeSpan.FromSeconds(warmUpSeconds), SendNext);
            var drained = await DrainAsync(dataSource, from, await MarkAsync(dataSource));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warm-up at {rates[0]}/s for {warmUpSeconds} s, unmeasured: p99 {warm.P99:F2} ms, {warm.Errors} errors; processed at {drained.Rate:F0}/s"));
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        // The app's id (messaging.sh gives it): its CPU time is read over each rate and its drain.
        int? appPid = int.TryParse(Option(args, "--app-pid", ""), CultureInfo.InvariantCulture, out var pid) ? pid : null;
        var results = new List<(Result Accepted, Drain Processed, double CpuMs)>();
        foreach (var rate in rates)
        {
            var cpu = new ProcessCpu(appPid);
            var from = await MarkAsync(dataSource);
            var stolen = new StolenCpu();
            var result = await MeasureAsync(rate, TimeSpan.FromSeconds(seconds), SendNext) with { Stolen = stolen.Share() };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rate}/s offered: {result.Throughput:F0}/s accepted, p50 {result.P50:F2} ms, p99 {result.P99:F2} ms, {result.Errors} errors; " +
                $"{StolenCpu.Describe(result.Stolen)} by the host"));
            // The next rate starts on an empty inbox.
            var drain = await DrainAsync(dataSource, from, await MarkAsync(dataSource));
            var cpuMs = cpu.PerRequestMs(drain.Processed);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {drain.Processed} processed at {drain.Rate:F0}/s, inbox drained {drain.AfterLastSeconds:F1} s after the last message was kept; app CPU {cpuMs:F2} ms per text (accepted and processed)"));
            results.Add((result, drain, cpuMs));
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        // Saturation, closed loop as pgbench's own figure is (MessagingSaturation), once per connection
        // count, right after pgbench on the same cluster. The host takes CPU from this machine now and
        // then (StolenCpu): an attempt in which it took more than 5 % from pgbench or the webhooks is
        // measured again, up to --attempts times, and the least disturbed attempt is kept.
        var attempts = int.Parse(Option(args, "--attempts", "3"), CultureInfo.InvariantCulture);
        Comparison? comparison = null;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            var candidate = await CompareWithPgbenchAsync(args, dataSource, url, token, seconds);
            if (comparison is null || candidate.MostStolen < comparison.MostStolen)
            {
                comparison = candidate;
            }
            if (StolenCpu.IsQuiet(candidate.MostStolen))
            {
                break;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"attempt {attempt} of {attempts} was disturbed ({StolenCpu.Describe(candidate.MostStolen)} by the host at worst){(attempt < attempts ? ": measuring again" : "")}"));
        }
        // --attempts 0: the open-loop rates only.
        comparison ??= new Comparison(double.NaN, double.NaN, []);
        var saturation = comparison.Saturation;
        var (pgbenchTps, pgbenchSteal) = (comparison.PgbenchTps, comparison.PgbenchStolen);

        Console.WriteLine();
        Console.WriteLine("| offered (msg/s) | accepted (msg/s) | p50 (ms) | p99 (ms) | errors | processed (msg/s) | inbox drained after the last (s) | app CPU per text (ms) | CPU stolen by the host |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (result, drain, cpuMs) in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {result.Rate:N0} | {result.Throughput:N0} | {result.P50:F2} | {result.P99:F2} | {result.Errors} | {drain.Rate:N0} | {drain.AfterLastSeconds:F1} | {cpuMs:F2} | {result.Stolen:P1} |"));
        }
        foreach (var (result, drain) in saturation)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| saturation, {result.Connections} connections (wrk, closed loop) | **{result.Throughput:N0}** | {result.P50:F2} | {result.P99:F2} | {result.Failed} | {drain.Rate:N0} | {drain.AfterLastSeconds:F1} | | {result.Stolen:P1} |"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| pgbench single-row INSERT, 16 clients (closed loop) | **{pgbenchTps:N0}** tps | | | | | | | {pgbenchSteal:P1} |"));

        var accepted = results.Select(r => r.Accepted).ToList();
        var sustained = accepted.Where(Sustained).Select(r => r.Rate).DefaultIfEmpty(0).Max();
        var atTarget = results.FirstOrDefault(r => r.Accepted.Rate == TargetRate);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"highest open-loop rate sustained (p99 < {P99TargetMs} ms, no errors, >= 95 % of offered achieved): {sustained:N0}/s"));
        if (saturation.Count > 0)
        {
            var best = saturation.Select(s => s.Accepted).MaxBy(r => r.Throughput)!;
            var valid = best.Failed == 0 && best.AllKept;
            var disturbed = StolenCpu.IsQuiet(comparison.MostStolen)
                ? ""
                : $" (DISTURBED: {StolenCpu.Describe(comparison.MostStolen)} by the host at worst, in the least disturbed attempt)";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"throughput at saturation: {best.Throughput:N0}/s ({best.Connections} connections{(valid ? "" : ", NOT valid: failures or texts not kept")}) = " +
                $"{best.Throughput / pgbenchTps:P0} of pgbench's {pgbenchTps:N0} tps{disturbed}"));
        }
        else
        {
            Console.WriteLine("throughput at saturation: not measured (give --wrk)");
        }
        // At the design load every text is accepted in time and processing keeps up: the inbox is empty
        // within KeptUpSeconds of the last text.
        Console.WriteLine(atTarget.Accepted is null
            ? $"at the design load ({TargetRate}/s): not measured (add {TargetRate} to --rates)"
            : string.Create(CultureInfo.InvariantCulture,
                $"at the design load ({TargetRate}/s): p99 {atTarget.Accepted.P99:F1} ms (target < {P99TargetMs} ms, no errors), inbox drained {atTarget.Processed.AfterLastSeconds:F1} s after the last text (target < {KeptUpSeconds} s): " +
                $"{(Sustained(atTarget.Accepted) && atTarget.Processed.AfterLastSeconds < KeptUpSeconds ? "met" : "NOT met")}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"processing: at most {results.Select(r => r.Processed.Rate).DefaultIfEmpty(0).Max():N0} messages/s (beyond it a backlog builds and drains in order)"));
        return 0;
    }

    /// <summary>Messages processed after a mark, once all are processed: how fast, and how long after the last one was kept.</summary>
    private sealed record Drain(long Processed, double Rate, double AfterLastSeconds);

    /// <summary>A point in the run, in the database's terms: the last inbox and message ids, and its clock.</summary>
    private sealed record Mark(long InboxId, long MessageId, DateTime At);

    private static async Task<Mark> MarkAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<Mark>("""
            SELECT (SELECT coalesce(max(id), 0) FROM inbound_inbox) AS "InboxId", (SELECT coalesce(max(id), 0) FROM messages) AS "MessageId",
                   clock_timestamp() AS "At"
            """);
    }

    /// <summary>
    /// Waits until every message kept after <paramref name="from"/> is processed (gone from the inbox)
    /// or failed, then reads the processing rate from the database's clock: inbound messages stored
    /// since the mark / (the last one's time − the mark's); <paramref name="sent"/> is a mark taken once
    /// every webhook of the rate was answered, so no later message was kept.
    /// </summary>
    private static async Task<Drain> DrainAsync(NpgsqlDataSource dataSource, Mark from, Mark sent)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var deadline = Stopwatch.StartNew();
        while (await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM inbound_inbox WHERE id > @InboxId AND failed_at IS NULL", from) > 0)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(15))
            {
                Console.WriteLine("the inbox was not drained within 15 minutes");
                break;
            }
            await Task.Delay(100);
        }
        var (count, span, afterLast) = await connection.QuerySingleAsync<(long, double?, double?)>("""
            SELECT count(*), extract(epoch FROM max(created_at) - @from)::float8, extract(epoch FROM max(created_at) - @sent)::float8
            FROM messages WHERE direction = 'inbound' AND id > @fromId
            """, new { from = from.At, sent = sent.At, fromId = from.MessageId });
        return new Drain(count, span is > 0 ? count / span.Value : double.NaN, afterLast ?? double.NaN);
    }

    private sealed record Result(int Rate, int Requests, int Errors, double Throughput, double P50, double P99)
    {
        /// <summary>The share of the CPU the host took while the webhooks were sent (<see cref="StolenCpu"/>).</summary>
        public double Stolen { get; init; }
    }

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
            await Schedule.UntilAsync(stopwatch, due);
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
        var form = SmsForm(messageSid, from, body);
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

    /// <summary>pgbench's throughput and the webhook's at saturation, measured one right after the other, and what the host stole meanwhile.</summary>
    private sealed record Comparison(double PgbenchTps, double PgbenchStolen, List<(MessagingSaturation.Result Accepted, Drain Processed)> Saturation)
    {
        public double MostStolen => Saturation.Select(s => s.Accepted.Stolen).Append(PgbenchStolen).Max();
    }

    private static async Task<Comparison> CompareWithPgbenchAsync(string[] args, NpgsqlDataSource dataSource, string url, string token, int seconds)
    {
        var pgbenchStolen = new StolenCpu();
        var pgbenchTps = Option(args, "--pgbench", "") is { Length: > 0 } pgbench
            ? await RunPgbenchAsync(pgbench, Option(args, "--pg-port", "5432"), Option(args, "--pg-database", "wsr_bench"))
            : double.NaN;
        var pgbenchSteal = pgbenchStolen.Share();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pgbench: {pgbenchTps:F0} tps; {StolenCpu.Describe(pgbenchSteal)} by the host"));
        await Task.Delay(TimeSpan.FromSeconds(2));

        var saturation = new List<(MessagingSaturation.Result Accepted, Drain Processed)>();
        if (Option(args, "--wrk", "") is not { Length: > 0 } wrk)
        {
            return new Comparison(pgbenchTps, pgbenchSteal, saturation);
        }
        var saturationSeconds = int.Parse(Option(args, "--saturation-seconds", seconds.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        foreach (var connections in Option(args, "--connections", "64").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)))
        {
            var from = await MarkAsync(dataSource);
            var result = await MessagingSaturation.RunAsync(
                wrk, Option(args, "--wrk-script", "ops/bench/messaging-wrk.lua"), url, token, dataSource, connections, saturationSeconds, Bodies, Workers);
            if (result is null)
            {
                continue;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"saturation, {connections} connections, closed loop: {result.Throughput:F0}/s accepted, p50 {result.P50:F2} ms, p99 {result.P99:F2} ms, " +
                $"{result.Failed} failed; {result.Kept} of {result.Answered} answered texts kept; {StolenCpu.Describe(result.Stolen)} by the host"));
            // The next measurement starts on an empty inbox, with no processing going on.
            var drain = await DrainAsync(dataSource, from, await MarkAsync(dataSource));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {drain.Processed} processed (with the 3 s warm-up's) at {drain.Rate:F0}/s, inbox drained {drain.AfterLastSeconds:F1} s after the last message was kept"));
            saturation.Add((result, drain));
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
        return new Comparison(pgbenchTps, pgbenchSteal, saturation);
    }

    /// <summary>The form of an inbound SMS webhook, as Twilio posts it to the hotline's SMS number.</summary>
    public static List<KeyValuePair<string, string>> SmsForm(string messageSid, string from, string body) =>
    [
        new("MessageSid", messageSid),
        new("AccountSid", "AC00000000000000000000000000000000"),
        new("From", from),
        new("To", "+18005550101"),
        new("Body", body),
        new("NumMedia", "0"),
    ];

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
