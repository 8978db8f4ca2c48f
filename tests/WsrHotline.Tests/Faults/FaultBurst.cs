using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Dapper;
using Npgsql;
using WsrHotline.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WsrHotline.Tests.Faults;

/// <summary>
/// The faults suite's workload and its checks: signed texts from many workers (each worker's texts one
/// after the other, as a phone sends them) and calls (a call start, then its voicemail's recording
/// callback) spread over the instances through <see cref="TwilioStyleWebhooks"/>; a fault is injected
/// by the test while it runs. Size: <c>WSR_FAULTS_SCALE</c> (default 1: 30 workers × 10 texts, 20
/// calls, one fault); N multiplies the texts and calls and injects N faults.
/// </summary>
public sealed class FaultBurst
{
    public static int Scale { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("WSR_FAULTS_SCALE"), CultureInfo.InvariantCulture, out var scale) && scale > 0 ? scale : 1;

    private readonly string run = Guid.NewGuid().ToString("N")[..8];
    private readonly ConcurrentBag<string> unanswered = [];
    private int answered;

    public FaultBurst(int workers, int textsPerWorker, int calls)
    {
        Workers = workers;
        TextsPerWorker = textsPerWorker;
        Calls = calls;
    }

    public int Workers { get; }

    public int TextsPerWorker { get; }

    public int Calls { get; }

    public int Webhooks => Workers * TextsPerWorker + Calls * 2;

    /// <summary>Webhooks answered so far (any status).</summary>
    public int Answered => answered;

    /// <summary>Answers by status code (a 503 to a text is a text Twilio will not send again).</summary>
    public ConcurrentDictionary<HttpStatusCode, int> Statuses { get; } = new();

    public static string Worker(int worker) => "+1555561" + worker.ToString("D4", CultureInfo.InvariantCulture);

    public string TextSid(int worker, int text) => $"SM{run}{worker:x12}{text:x12}";

    public string CallSid(int call) => $"CA{run}{call:x24}";

    public string RecordingSid(int call) => $"RE{run}{call:x24}";

    /// <summary>
    /// Sends everything in <paramref name="phases"/> phases (each worker's texts and the calls split
    /// evenly, every phase answered before the next starts, so the first one also warms the instances
    /// up); <paramref name="fault"/>(p, answered at its start, answered at its end) runs alongside each
    /// phase p after the first and is awaited before the next phase; <paramref name="ready"/>(p), when
    /// given, is awaited before phase p starts. Returns when every webhook was answered or given up.
    /// </summary>
    public async Task RunAsync(TwilioStyleWebhooks webhooks, int phases, Func<int, int, int, Task> fault, Func<int, Task>? ready = null)
    {
        var textsBefore = 0;
        var callsBefore = 0;
        for (var phase = 0; phase < phases; phase++)
        {
            var texts = TextsPerWorker * (phase + 1) / phases;
            var calls = Calls * (phase + 1) / phases;
            if (phase > 0 && ready is not null)
            {
                await ready(phase);
            }
            var start = Answered;
            var end = start + (texts - textsBefore) * Workers + (calls - callsBefore) * 2;
            var injected = phase == 0 ? Task.CompletedTask : fault(phase, start, end);
            await Task.WhenAll(SendTextsAsync(webhooks, textsBefore, texts).Concat(SendCallsAsync(webhooks, callsBefore, calls)));
            await injected;
            (textsBefore, callsBefore) = (texts, calls);
        }
    }

    private IEnumerable<Task> SendTextsAsync(TwilioStyleWebhooks webhooks, int from, int to) => Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
    {
        for (var text = from; text < to; text++)
        {
            var body = text == 0
                ? $"Hello, my boss did not pay my overtime hours. Worker {worker}."
                : $"Text {text} from worker {worker}: he also shouted at us on the line.";
            await Count(webhooks.PostAsync(worker + text, "/twilio/messaging/incoming",
                ("MessageSid", TextSid(worker, text)), ("AccountSid", TestKeys.TwilioAccountSid), ("From", Worker(worker)),
                ("To", "+18005550101"), ("Body", body), ("NumMedia", "0")), TextSid(worker, text));
        }
    }));

    private IEnumerable<Task> SendCallsAsync(TwilioStyleWebhooks webhooks, int from, int to) => Enumerable.Range(from, to - from).Select(call => Task.Run(async () =>
    {
        var caller = "+1555562" + call.ToString("D4", CultureInfo.InvariantCulture);
        await Count(webhooks.PostAsync(call, "/twilio/voice/incoming",
            ("CallSid", CallSid(call)), ("AccountSid", TestKeys.TwilioAccountSid), ("From", caller), ("To", "+18005550100"),
            ("CallStatus", "ringing"), ("Direction", "inbound")), CallSid(call));
        // The recording callback comes from elsewhere in Twilio, to whichever instance.
        await Count(webhooks.PostAsync(call + 1, "/twilio/voice/recording",
            ("CallSid", CallSid(call)), ("AccountSid", TestKeys.TwilioAccountSid), ("RecordingSid", RecordingSid(call)),
            ("RecordingUrl", $"https://api.twilio.com/2010-04-01/Accounts/{TestKeys.TwilioAccountSid}/Recordings/{RecordingSid(call)}"),
            ("RecordingStatus", "completed"), ("RecordingDuration", "12"), ("RecordingChannels", "1")), RecordingSid(call));
    }));

    private async Task Count(Task<HttpStatusCode?> post, string what)
    {
        var status = await post;
        if (status is { } answer)
        {
            Statuses.AddOrUpdate(answer, 1, (_, n) => n + 1);
        }
        else
        {
            unanswered.Add(what);
        }
        Interlocked.Increment(ref answered);
    }

    /// <summary>Polls until at least this many webhooks were answered.</summary>
    public async Task AnsweredAtLeastAsync(int count, TimeSpan patience)
    {
        // Looked at often: the fault is meant to land at this point of the burst, not well after it.
        await Eventually.TrueAsync(() => Answered >= count, () => $"{count} webhooks answered (only {Answered})", patience, TimeSpan.FromMilliseconds(10));
    }

    /// <summary>Polls until nothing is left to do: the inbox processed, no reply pending, claimed or being handed over.</summary>
    public static async Task SettledAsync(string connectionString, TimeSpan patience, IEnumerable<HotlineProcess?> instances)
    {
        var left = "";
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                var (inbox, replies) = await connection.QuerySingleAsync<(long, long)>("""
                    SELECT (SELECT count(*) FROM inbound_inbox WHERE failed_at IS NULL),
                           (SELECT count(*) FROM messages WHERE direction = 'outbound' AND status IN ('pending', 'claimed', 'handing_over'))
                    """);
                var spooled = instances.Sum(instance => instance is { HasExited: false } ? instance.SpoolWaiting : 0);
                left = $"{spooled} webhooks in the spools, {inbox} texts in the inbox, {replies} replies unsent";
                return inbox == 0 && replies == 0 && spooled == 0;
            }
            catch (NpgsqlException ex)
            {
                left = ex.GetType().Name;
                return false;
            }
        }, () => $"settled (left: {left})", patience, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>
    /// The promises: every text stored once, each worker's in order on their case timeline; every
    /// reply posted to Twilio exactly once; every voicemail stored. Returns a summary for the log.
    /// </summary>
    public async Task<string> AssertKeptAsync(string connectionString, TwilioStandIn twilio, int interruptedAllowed, ITestOutputHelper output)
    {
        Assert.True(unanswered.IsEmpty, $"{unanswered.Count} webhooks never got an answer, e.g. {string.Join(", ", unanswered.Take(5))}");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();

        var expected = Enumerable.Range(0, Workers).SelectMany(w => Enumerable.Range(0, TextsPerWorker).Select(t => TextSid(w, t))).ToHashSet();
        var stored = (await connection.QueryAsync<string>(
            "SELECT message_sid FROM messages WHERE direction = 'inbound' AND message_sid LIKE @prefix", new { prefix = $"SM{run}%" })).ToList();
        var missing = expected.Except(stored).ToList();
        Assert.True(missing.Count == 0 && stored.Count == expected.Count,
            $"texts: {expected.Count} sent, {stored.Count} stored, {stored.Count - stored.Distinct().Count()} twice, {missing.Count} missing " +
            $"(e.g. {string.Join(", ", missing.Take(3))}); answers {string.Join(", ", Statuses.Select(s => $"{(int)s.Key}×{s.Value}"))}");
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM inbound_inbox"));

        // Each worker's texts, in the order they were sent, on their complaint's timeline.
        var timeline = (await connection.QueryAsync<string>("""
            SELECT details->>'message_sid' FROM case_timeline WHERE kind = 'message.received' AND details->>'message_sid' LIKE @prefix ORDER BY id
            """, new { prefix = $"SM{run}%" })).ToList();
        for (var worker = 0; worker < Workers; worker++)
        {
            var sids = Enumerable.Range(0, TextsPerWorker).Select(t => TextSid(worker, t)).ToList();
            Assert.Equal(sids, timeline.Where(sids.Contains).ToList());
        }
        Assert.Equal(Workers, await connection.ExecuteScalarAsync<long>("""
            SELECT count(DISTINCT complaint_id) FROM messages WHERE direction = 'inbound' AND message_sid LIKE @prefix
            """, new { prefix = $"SM{run}%" }));

        // Every reply posted exactly once: per worker as many posts as replies, each recorded sid posted once.
        var pii = new WsrHotline.Pii.PiiProtector(Microsoft.Extensions.Options.Options.Create(new WsrHotline.Pii.PiiOptions
        {
            ActiveKeyId = TestKeys.PiiKeyId,
            Keys = new() { [TestKeys.PiiKeyId] = TestKeys.PiiKey },
            LookupKey = TestKeys.PiiLookupKey,
        }));
        var replies = (await connection.QueryAsync<(long Id, string Phone, string Status, string? Sid, string? Error)>("""
            SELECT m.id, ci.phone_encrypted, m.status, m.message_sid, m.last_error FROM messages m
            JOIN caller_identities ci ON ci.id = m.caller_identity_id
            WHERE m.direction = 'outbound' AND m.status <> 'suppressed'
            """)).Select(r => (r.Id, Phone: pii.Decrypt(r.Phone, WsrHotline.Pii.PiiPurpose.CallerPhone), r.Status, r.Sid, r.Error)).ToList();
        var posted = twilio.Messages.ToList();
        Assert.Empty(twilio.Unexpected);
        var perWorker = Enumerable.Range(0, Workers).Select(w => Worker(w))
            .Select(phone => (phone, replies: replies.Count(r => r.Phone == phone), posts: posted.Count(p => p.To == phone)))
            .Where(x => x.replies != x.posts).ToList();
        Assert.True(perWorker.Count == 0, "replies queued vs posted to Twilio, per worker: " +
            string.Join("; ", perWorker.Take(5).Select(x => $"{x.replies} vs {x.posts}")) + $" ({perWorker.Count} workers differ)");
        var postedSids = posted.Select(p => p.Sid).ToHashSet();
        Assert.All(replies.Where(r => r.Sid is not null), r => Assert.Contains(r.Sid!, postedSids));
        Assert.Equal(posted.Count, posted.Select(p => p.Sid).Distinct().Count());
        var interrupted = replies.Where(r => r.Sid is null).ToList();
        Assert.All(interrupted, r => Assert.StartsWith("interrupted", r.Error ?? r.Status, StringComparison.Ordinal));
        Assert.True(interrupted.Count <= interruptedAllowed,
            $"{interrupted.Count} replies handed over without a recorded outcome (at most {interruptedAllowed}: one per killed sender)");

        // Every voicemail stored. The callbacks owed are counted, not asserted: a call whose start was
        // kept in a spool the killed instance never replays gets its recording from the callback, but
        // no caller identity, so no callback (reported to the voice spool's owner).
        var voicemails = await connection.QuerySingleAsync<(long Recorded, long Callbacks)>("""
            SELECT count(*) FILTER (WHERE c.recording_sid LIKE @recordings),
                   (SELECT count(DISTINCT t.call_id) FROM callback_tasks t JOIN calls k ON k.id = t.call_id WHERE k.call_sid LIKE @calls AND t.reason = 'voicemail')
            FROM calls c WHERE c.call_sid LIKE @calls
            """, new { calls = $"CA{run}%", recordings = $"RE{run}%" });
        Assert.Equal(Calls, (int)voicemails.Recorded);

        var summary = $"{stored.Count} texts stored once, in order; {posted.Count} replies posted once ({interrupted.Count} with the outcome lost in a kill); " +
                      $"{Calls} voicemails stored ({voicemails.Callbacks} callbacks owed); answers {string.Join(", ", Statuses.Select(s => $"{(int)s.Key}×{s.Value}"))}";
        output.WriteLine(summary);
        return summary;
    }
}
