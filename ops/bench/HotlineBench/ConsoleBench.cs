using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Dapper;
using Npgsql;
using WsrHotline.Staff;
using WsrHotline.Tests.Infrastructure;

namespace HotlineBench;

/// <summary>
/// Live-event latency at the consoles: N console connections (SignalR JSON over WebSockets, signed
/// in as Spanish-speaking investigators created for the run) while signed inbound SMS webhooks in
/// Spanish arrive at a steady rate and then in a burst. For every (webhook, console) pair: the time
/// from the webhook's answer (the message is committed) to its <c>MessageReceived</c> event arriving
/// at that console. Events are matched to webhooks by <c>payload.messageId</c>, which the run looks
/// up afterwards from the MessageSids it sent (the webhook's answer is empty TwiML). Baseline in the
/// same run: a bare NOTIFY round trip through the same PostgreSQL to one LISTEN connection.
/// </summary>
public static class ConsoleBench
{
    private const double P99TargetMs = 100;

    private static readonly string[] SpanishBodies =
    [
        "No nos pagaron las horas extra de la semana pasada en el almacén.",
        "El supervisor nos grita y amenaza con despedirnos si vamos al baño.",
        "Nos quitaron el pasaporte cuando llegamos y no nos lo devuelven.",
    ];

    private sealed record Sent(string Sid, string Phase, long StartedAt, long AnsweredAt, bool Ok);

    public static async Task<int> RunAsync(Uri app, string token, string database, string[] args)
    {
        var connections = Option(args, "--connections", 200);
        var staffCount = Option(args, "--staff", 10);
        var rate = Option(args, "--rate", 20);
        var seconds = Option(args, "--seconds", 30);
        var burst = Option(args, "--burst", 100);
        Console.WriteLine($"Console benchmark: {connections} console connections signed in as {staffCount} Spanish-speaking investigators; " +
            $"webhooks at {rate}/s for {seconds} s, then a burst of {burst}; {Environment.ProcessorCount} cores");

        await using var dataSource = NpgsqlDataSource.Create(database);
        var staff = await CreateStaffAsync(dataSource, staffCount);
        var sessions = new List<(HttpClient Http, CookieContainer Cookies)>();
        foreach (var (email, password) in staff)
        {
            var cookies = new CookieContainer();
            var http = new HttpClient(new SocketsHttpHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = app };
            await StaffSignInForm.SignInAsync(http, email, password);
            sessions.Add((http, cookies));
        }

        // What each console received: (message id, arrival), appended by its own receive loop.
        var arrivals = Enumerable.Range(0, connections).Select(_ => new ConcurrentQueue<(long MessageId, long At)>()).ToArray();
        var consoles = new RawSignalRClient[connections];
        var hub = new Uri(app, "/hubs/console");
        await Parallel.ForEachAsync(Enumerable.Range(0, connections), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, cancellationToken) =>
        {
            var (http, cookies) = sessions[i % sessions.Count];
            var received = arrivals[i];
            consoles[i] = await RawSignalRClient.ConnectAsync(http, hub, RawSignalRClient.ClientWebSocketWith(cookies), invocation =>
            {
                if (invocation.Target == "MessageReceived")
                {
                    received.Enqueue((invocation.Event.GetProperty("payload").GetProperty("messageId").GetInt64(), invocation.ReceivedAt));
                }
            }, cancellationToken);
        });
        Console.WriteLine($"{connections} consoles connected; each connection announced its presence to all the others");
        await Task.Delay(TimeSpan.FromSeconds(3));

        var notify = await MeasureNotifyAsync(database, rate, Math.Min(seconds, 10));

        using var webhooks = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var url = new Uri(app, "/twilio/messaging/incoming").ToString();
        var sent = new ConcurrentBag<Sent>();
        var sequence = 0;
        async Task SendAsync(string phase)
        {
            var n = Interlocked.Increment(ref sequence);
            var sid = string.Create(CultureInfo.InvariantCulture, $"SMconsole{Environment.ProcessId:D8}{n:D15}");
            // A new worker number each time: every webhook opens its own complaint, in Spanish.
            var from = string.Create(CultureInfo.InvariantCulture, $"+1556{n:D7}");
            var startedAt = Stopwatch.GetTimestamp();
            var ok = await MessagingBench.PostSmsAsync(webhooks, url, token, sid, from, SpanishBodies[n % SpanishBodies.Length]);
            sent.Add(new Sent(sid, phase, startedAt, Stopwatch.GetTimestamp(), ok));
        }

        for (var i = 0; i < 20; i++)
        {
            await SendAsync("warm-up");
        }
        await Task.Delay(TimeSpan.FromSeconds(2));

        // Steady: open loop, a webhook every 1/rate s whatever the earlier ones are doing.
        var steady = new List<Task>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < rate * seconds; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            await Schedule.UntilAsync(clock, due);
            steady.Add(Task.Run(() => SendAsync("steady")));
        }
        await Task.WhenAll(steady);
        await Task.Delay(TimeSpan.FromSeconds(2));

        // Burst: all at once (at most 256 in flight on the HTTP side).
        await Task.WhenAll(Enumerable.Range(0, burst).Select(_ => Task.Run(() => SendAsync("burst"))));

        var ids = await MessageIdsAsync(dataSource, [.. sent.Select(s => s.Sid)]);
        var expected = sent.Count(s => s.Ok && ids.ContainsKey(s.Sid));
        var waited = Stopwatch.StartNew();
        while (arrivals.Any(a => a.Count < expected) && waited.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(200);
        }

        // Per (webhook, console): arrival minus the webhook's answer, and minus its start.
        var byMessage = arrivals.Select(a => a.GroupBy(x => x.MessageId).ToDictionary(g => g.Key, g => g.Min(x => x.At))).ToArray();
        Console.WriteLine();
        Console.WriteLine("| measurement | samples | p50 (ms) | p99 (ms) | max (ms) |");
        Console.WriteLine("|---|---|---|---|---|");
        var results = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var phase in new[] { "steady", "burst" })
        {
            var webhooksOfPhase = sent.Where(s => s.Phase == phase).ToArray();
            var afterAnswer = new List<double>();
            var afterStart = new List<double>();
            var missing = 0;
            foreach (var webhook in webhooksOfPhase.Where(s => s.Ok && ids.ContainsKey(s.Sid)))
            {
                foreach (var console in byMessage)
                {
                    if (console.TryGetValue(ids[webhook.Sid], out var at))
                    {
                        afterAnswer.Add(Milliseconds(webhook.AnsweredAt, at));
                        afterStart.Add(Milliseconds(webhook.StartedAt, at));
                    }
                    else
                    {
                        missing++;
                    }
                }
            }
            var answers = webhooksOfPhase.Select(s => Milliseconds(s.StartedAt, s.AnsweredAt)).ToArray();
            var errors = webhooksOfPhase.Count(s => !s.Ok || !ids.ContainsKey(s.Sid));
            var label = phase == "steady" ? $"steady {rate}/s for {seconds} s" : $"burst of {burst}";
            results[phase] = Row($"{label}: event at a console, after the webhook's answer ({missing} pairs missing, {errors} webhook errors)", afterAnswer);
            Row($"{label}: event at a console, after the webhook was sent", afterStart);
            Row($"{label}: webhook answer time", answers);
        }
        var baseline = Row($"baseline: NOTIFY to one LISTEN connection, same PostgreSQL, {rate}/s", notify);

        var steadyP99 = results["steady"][1];
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"steady p50 {results["steady"][0]:F1} ms = {results["steady"][0] / baseline[0]:F0}x the NOTIFY round trip's p50; " +
            $"p99 {steadyP99:F1} ms = {steadyP99 / baseline[1]:F0}x its p99"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"target p99 < {P99TargetMs} ms with {connections} consoles: steady {steadyP99:F1} ms, {(steadyP99 < P99TargetMs ? "met" : "NOT met")}; " +
            $"burst {results["burst"][1]:F1} ms, {(results["burst"][1] < P99TargetMs ? "met" : "NOT met")}"));

        await Task.WhenAll(consoles.Select(c => c.DisposeAsync().AsTask()));
        foreach (var (http, _) in sessions)
        {
            http.Dispose();
        }
        return 0;
    }

    private static double Milliseconds(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    // p50, p99
    private static double[] Row(string name, IEnumerable<double> samples)
    {
        var sorted = samples.Order().ToArray();
        double[] result = [Percentile(sorted, 0.50), Percentile(sorted, 0.99)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {sorted.Length:N0} | {result[0]:F2} | {result[1]:F2} | {(sorted.Length == 0 ? double.NaN : sorted[^1]):F2} |"));
        return result;
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    /// <summary>Investigators for the run, speaking Spanish, with the app's own password hashing; returns their sign-ins.</summary>
    private static async Task<List<(string Email, string Password)>> CreateStaffAsync(NpgsqlDataSource dataSource, int count)
    {
        var password = "bench-" + Guid.NewGuid().ToString("N");
        var staff = new List<(string, string)>();
        await using var connection = await dataSource.OpenConnectionAsync();
        for (var i = 0; i < count; i++)
        {
            var email = string.Create(CultureInfo.InvariantCulture, $"bench-investigator-{i}@bench.example");
            var id = await connection.ExecuteScalarAsync<int>("""
                INSERT INTO staff (email, display_name, role, team) VALUES (@email, @email, 'investigator', 'Bench')
                ON CONFLICT (lower(email)) DO UPDATE SET active = true
                RETURNING id
                """, new { email });
            await connection.ExecuteAsync("""
                UPDATE staff SET password_hash = @hash WHERE id = @id;
                INSERT INTO staff_languages (staff_id, language_code) VALUES (@id, 'es') ON CONFLICT DO NOTHING;
                """, new { id, hash = StaffPasswords.Hash(new StaffMember(id, email), password) });
            staff.Add((email, password));
        }
        return staff;
    }

    private static async Task<Dictionary<string, long>> MessageIdsAsync(NpgsqlDataSource dataSource, string[] sids)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        // The webhook answers once a message is in the inbox; its messages row comes with its processing.
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(60) && await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM inbound_inbox WHERE message_sid = ANY(@sids) AND failed_at IS NULL", new { sids }) > 0)
        {
            await Task.Delay(200);
        }
        var rows = await connection.QueryAsync<(string Sid, long Id)>(
            "SELECT message_sid, id FROM messages WHERE message_sid = ANY(@sids)", new { sids });
        return rows.ToDictionary(r => r.Sid, r => r.Id, StringComparer.Ordinal);
    }

    /// <summary>
    /// The floor under any relay: a NOTIFY (autocommitted, so delivered at once) from one connection to
    /// another that LISTENs, at the same rate as the webhooks; from sending the NOTIFY to its arrival.
    /// </summary>
    private static async Task<List<double>> MeasureNotifyAsync(string database, int rate, int seconds)
    {
        var sentAt = new ConcurrentDictionary<int, long>();
        var latencies = new ConcurrentQueue<double>();
        await using var listener = new NpgsqlConnection(database);
        await listener.OpenAsync();
        listener.Notification += (_, e) =>
        {
            var at = Stopwatch.GetTimestamp();
            if (sentAt.TryGetValue(int.Parse(e.Payload, CultureInfo.InvariantCulture), out var started))
            {
                latencies.Enqueue(Milliseconds(started, at));
            }
        };
        await listener.ExecuteAsync("LISTEN bench_console_baseline");
        using var stop = new CancellationTokenSource();
        var listening = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await listener.WaitAsync(stop.Token);
            }
        });

        await using var sender = new NpgsqlConnection(database);
        await sender.OpenAsync();
        var total = rate * seconds;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            await Schedule.UntilAsync(clock, due);
            sentAt[i] = Stopwatch.GetTimestamp();
            await sender.ExecuteAsync("SELECT pg_notify('bench_console_baseline', @payload)", new { payload = i.ToString(CultureInfo.InvariantCulture) });
        }
        var waited = Stopwatch.StartNew();
        while (latencies.Count < total && waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50);
        }
        await stop.CancelAsync();
        await listening.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return [.. latencies];
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
