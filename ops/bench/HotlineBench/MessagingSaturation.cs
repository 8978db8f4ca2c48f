using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;
using WsrHotline.Simulator;
using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// The messaging webhook's throughput at saturation, measured the way pgbench measures its own: a
/// closed loop (each connection sends its next request as soon as the last is answered) for a fixed
/// time. The load comes from <c>wrk</c> (C, a few percent of a core per thousand requests/s) rather
/// than .NET's HttpClient, which took a quarter of these two cores at 9,000 requests/s and so
/// measured itself as much as the hotline. Every request is a different text, signed beforehand as
/// Twilio signs it (ops/bench/messaging-wrk.lua reads them); afterwards the database is asked whether
/// every text answered 200 was kept.
/// </summary>
public static partial class MessagingSaturation
{
    /// <summary>Requests written per second of the run: well above what two cores can take, so no thread runs out.</summary>
    private const int MaxRate = 30_000;

    private static int runs;

    public sealed record Result(int Connections, double Throughput, long Answered, long Failed, double P50, double P99, long Kept, double Stolen)
    {
        /// <summary>Every text answered 200 is in the database (requests still in flight at the end may add more).</summary>
        public bool AllKept => Kept >= Answered;
    }

    public static async Task<Result?> RunAsync(
        string wrk, string script, string url, string token, NpgsqlDataSource dataSource, int connections, int seconds, string[] bodies, int workers)
    {
        // A MessageSid never repeats, in this run or another: a repeated one is a retried webhook, which stores nothing.
        var prefix = string.Create(CultureInfo.InvariantCulture, $"SMsat{Environment.ProcessId:D7}r{Interlocked.Increment(ref runs):D3}");
        var warmUp = await WriteRequestsAsync(url, token, prefix + "w", MaxRate * 3, bodies, workers);
        var measured = await WriteRequestsAsync(url, token, prefix + "m", MaxRate * seconds, bodies, workers);
        try
        {
            // Three seconds unmeasured first: new connections, and .NET's JIT at this load.
            await RunWrkAsync(wrk, script, url, warmUp, connections, 3);
            await Task.Delay(TimeSpan.FromSeconds(2));
            var stolen = new StolenCpu();
            var run = await RunWrkAsync(wrk, script, url, measured, connections, seconds);
            var steal = stolen.Share();
            if (run is null)
            {
                return null;
            }
            if (run.Wrapped > 0)
            {
                Console.WriteLine($"  wrk ran out of prepared requests ({run.Wrapped} times): the run repeated MessageSids and is not valid");
                return null;
            }
            var kept = await KeptAsync(dataSource, prefix + "m");
            var failed = run.Non2xx + run.SocketErrors + run.Timeouts;
            return new Result(connections, (run.Requests - failed) / run.Seconds, run.Requests - failed, failed, run.P50Ms, run.P99Ms, kept, steal);
        }
        finally
        {
            File.Delete(warmUp);
            File.Delete(measured);
        }
    }

    /// <summary>Texts with MessageSids of the prefix, wherever they are now: still in the inbox, or processed into messages.</summary>
    private static async Task<long> KeptAsync(NpgsqlDataSource dataSource, string prefix)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("""
            SELECT (SELECT count(*) FROM inbound_inbox WHERE starts_with(message_sid, @prefix))
                 + (SELECT count(*) FROM messages WHERE direction = 'inbound' AND starts_with(message_sid, @prefix))
            """, new { prefix });
    }

    /// <summary>Writes <paramref name="count"/> signed webhooks, one per line: the signature, a tab, the form body.</summary>
    private static async Task<string> WriteRequestsAsync(string url, string token, string prefix, int count, string[] bodies, int workers)
    {
        var path = Path.GetTempFileName();
        await using var file = new StreamWriter(path, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 20);
        var random = new Random(count);
        for (var n = 0; n < count; n++)
        {
            var form = MessagingBench.SmsForm(
                string.Create(CultureInfo.InvariantCulture, $"{prefix}{n:D10}"),
                string.Create(CultureInfo.InvariantCulture, $"+1555{random.Next(workers):D7}"),
                bodies[n % bodies.Length]);
            await file.WriteAsync(TwilioRequestSigner.Sign(token, url, form));
            await file.WriteAsync('\t');
            await file.WriteLineAsync(string.Join('&', form.Select(field => Uri.EscapeDataString(field.Key) + "=" + Uri.EscapeDataString(field.Value))));
        }
        return path;
    }

    private sealed record WrkRun(long Requests, double Seconds, long Non2xx, long SocketErrors, long Timeouts, double P50Ms, double P99Ms, long Wrapped);

    private static async Task<WrkRun?> RunWrkAsync(string wrk, string script, string url, string requests, int connections, int seconds)
    {
        const int Threads = 2;
        var start = new ProcessStartInfo(wrk) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "-t", Threads.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-d", seconds.ToString(CultureInfo.InvariantCulture) + "s", "--timeout", "30s", "-s", script, url,
        })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["WSR_WRK_REQUESTS"] = requests;
        start.Environment["WSR_WRK_THREADS"] = Threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start");
        var errorOutput = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var match = ResultLine().Match(output);
        if (process.ExitCode != 0 || !match.Success)
        {
            Console.WriteLine($"  wrk failed (exit {process.ExitCode}): {output.Trim()} {(await errorOutput).Trim()}");
            return null;
        }
        long Field(string name) => long.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture);
        return new WrkRun(Field("requests"), Field("duration") / 1e6, Field("non2xx"), Field("socket"), Field("timeouts"),
            Field("p50") / 1000.0, Field("p99") / 1000.0, Field("wrapped"));
    }

    [GeneratedRegex(@"WRK_RESULT requests=(?<requests>\d+) duration_us=(?<duration>\d+) non_2xx=(?<non2xx>\d+) socket_errors=(?<socket>\d+) timeouts=(?<timeouts>\d+) p50_us=(?<p50>\d+) p99_us=(?<p99>\d+) wrapped=(?<wrapped>\d+)")]
    private static partial Regex ResultLine();
}
