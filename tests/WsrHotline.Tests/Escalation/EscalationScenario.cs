using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using WsrHotline.Escalation;
using WsrHotline.Intake;
using WsrHotline.Pii;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Escalation;

/// <summary>One webhook request as the buyer's endpoint received it.</summary>
public sealed record ReceivedWebhook(string Body, string? Timestamp, string? Signature, string? DeliveryId, bool Accepted);

/// <summary>A complaint with everything a leak could come from: the worker's number, name, words and a private note.</summary>
public sealed record SeededComplaint(long Id, string CaseNumber, string WorkerNumber, string WorkerName, string Words, string PrivateNote);

/// <summary>
/// The real app over a fresh database with a fake clock, a buyer with a webhook (a local HTTP endpoint
/// that checks our signature) and an e-mail contact, coordinators' e-mail, and a local SMTP server.
/// The Hangfire server is off unless asked: tests call the job services themselves (the deliveries'
/// jobs, enqueued by the sweep, wait in Hangfire's queue).
/// </summary>
public sealed class EscalationScenario : IAsyncDisposable
{
    public const string WebhookSecret = "test-webhook-secret-0123456789abcdef";
    public const string CoordinatorEmail = "coordinators@hotline.test";
    public const string BuyerEmail = "escalations@buyer.test";

    private readonly WebApplication buyerEndpoint;
    private int webhookCount;

    private EscalationScenario(string database, WebApplication buyerEndpoint, SmtpSink smtp, FakeTimeProvider time)
    {
        Database = database;
        this.buyerEndpoint = buyerEndpoint;
        Smtp = smtp;
        Time = time;
    }

    public string Database { get; }

    /// <summary>
    /// The apps' clock, started at the real now (or the test's start: FakeTimeProvider's own default,
    /// 2000-01-01, would put every clock decades late). It drives timers too: a wait on it ends only
    /// when the test advances it.
    /// </summary>
    public FakeTimeProvider Time { get; }

    public SmtpSink Smtp { get; }

    public List<HotlineFactory> Apps { get; } = [];

    public HotlineFactory App => Apps[0];

    public ConcurrentQueue<ReceivedWebhook> Webhooks { get; } = new();

    /// <summary>The buyer endpoint's status code for the n-th request (1-based).</summary>
    public Func<int, HttpStatusCode> WebhookAnswer { get; set; } = _ => HttpStatusCode.OK;

    /// <summary>While set and not completed, the buyer endpoint holds its answers (a slow buyer).</summary>
    public TaskCompletionSource? HoldWebhooks { get; set; }

    public string WebhookUrl => buyerEndpoint.Urls.Single() + "/wsr";

    public NpgsqlDataSource DataSource => App.Services.GetRequiredService<NpgsqlDataSource>();

    public DeadlineSweep Sweep => App.Services.GetRequiredService<DeadlineSweep>();

    public EscalationDelivery Delivery => App.Services.GetRequiredService<EscalationDelivery>();

    /// <summary>Runs the delivery job of every e-mail and webhook due now (<see cref="DueDeliveries"/>); returns how many ran.</summary>
    public Task<int> DeliverDueAsync() => DueDeliveries.DeliverDueAsync(App.Services);

    public static async Task<EscalationScenario> StartAsync(DateTimeOffset? start = null)
    {
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        EscalationScenario? scenario = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var endpoint = builder.Build();
        endpoint.MapPost("/wsr", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var n = Interlocked.Increment(ref scenario!.webhookCount);
            var status = scenario.WebhookAnswer(n);
            scenario.Webhooks.Enqueue(new ReceivedWebhook(body, context.Request.Headers[BuyerSignatures.TimestampHeader],
                context.Request.Headers[BuyerSignatures.SignatureHeader], context.Request.Headers[BuyerSignatures.DeliveryHeader],
                (int)status < 300));
            if (scenario.HoldWebhooks is { } hold)
            {
                await hold.Task;
            }
            return Results.StatusCode((int)status);
        });
        await endpoint.StartAsync();
        scenario = new EscalationScenario(database, endpoint, new SmtpSink(), new FakeTimeProvider(start ?? DateTimeOffset.UtcNow));
        await scenario.AddAppAsync();
        return scenario;
    }

    /// <summary>Another instance of the app over the same database (a second node, or the app after a restart).</summary>
    public async Task<HotlineFactory> AddAppAsync(
        Action<Dictionary<string, string?>>? adjust = null, bool fakeTime = true, Action<IServiceCollection>? services = null)
    {
        var factory = new HotlineFactory(new TestHostOptions(PostgresServer.ConnectionStringFor(Database))
        {
            Settings = settings =>
            {
                settings["Escalation:CoordinatorEmails:0"] = CoordinatorEmail;
                settings["Escalation:WebhookSecret"] = WebhookSecret;
                settings["Escalation:DeliveryRetryBaseDelay"] = "00:01:00";
                settings["Escalation:DeliveryMaxAttempts"] = "4";
                settings["Smtp:Host"] = "127.0.0.1";
                settings["Smtp:Port"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                settings["Smtp:From"] = "hotline@hotline.test";
                adjust?.Invoke(settings);
            },
            Time = fakeTime ? Time : null,
            Services = services,
        });
        Apps.Add(factory);
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);
        return factory;
    }

    /// <summary>
    /// A participating supplier sold to one Signatory Buyer with a webhook and an e-mail contact, a
    /// complaint opened now (with its clocks), classified, summarised, with the worker's identity, words and a private note.
    /// </summary>
    public async Task<SeededComplaint> SeedComplaintAsync(
        string severity = "standard", string supplierStatus = "participating", bool zeroToleranceProvision = false, string suffix = "1")
    {
        var pii = App.Services.GetRequiredService<PiiProtector>();
        var identities = App.Services.GetRequiredService<CallerIdentities>();
        var number = "+1555555" + (1000 + int.Parse(suffix, System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var name = "Marisol Quintanilla" + suffix;
        var words = "The crew boss Ramiro pushed me against the truck" + suffix;
        var note = "Private: worker lives in trailer 14 behind the packing shed" + suffix;
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var identityId = await identities.FindOrCreateAsync(connection, transaction, number, "es", CancellationToken.None);
        await connection.ExecuteAsync("UPDATE caller_identities SET name_encrypted = @name WHERE id = @identityId",
            new { name = pii.Encrypt(name, PiiPurpose.CallerName), identityId }, transaction);
        // Opened at the fake clock's now, so the clocks run from the test's time.
        var opened = await Complaints.OpenAsync(connection, transaction, Channels.Sms, "es", identityId, CancellationToken.None);
        var now = Time.GetUtcNow();
        await connection.ExecuteAsync("""
            UPDATE complaints SET opened_at = @now WHERE id = @Id;
            UPDATE deadlines SET starts_at = @now, due_at = @now + (due_at - starts_at),
                                 next_check_at = @now + (next_check_at - starts_at) WHERE complaint_id = @Id;
            """, new { now, opened.Id }, transaction);
        var supplierId = await connection.ExecuteScalarAsync<int>("""
            INSERT INTO suppliers (name, program_status) VALUES (@supplier, @supplierStatus)
            ON CONFLICT (name) DO UPDATE SET program_status = excluded.program_status RETURNING id
            """, new { supplier = "Sunny Acres Farm " + supplierStatus, supplierStatus }, transaction);
        var buyerId = await connection.ExecuteScalarAsync<int>(
            "INSERT INTO buyers (name) VALUES ('FreshMart') ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id", transaction: transaction);
        await connection.ExecuteAsync("""
            INSERT INTO supplier_buyers (supplier_id, buyer_id) VALUES (@supplierId, @buyerId) ON CONFLICT DO NOTHING;
            INSERT INTO buyer_contacts (buyer_id, kind, name, address) VALUES (@buyerId, 'webhook', 'FreshMart compliance', @WebhookUrl)
                ON CONFLICT DO NOTHING;
            INSERT INTO buyer_contacts (buyer_id, kind, name, address) VALUES (@buyerId, 'email', 'FreshMart compliance', @BuyerEmail)
                ON CONFLICT DO NOTHING;
            INSERT INTO code_versions (name, version, effective_from) VALUES ('Fair Food Code', '2026', '2026-01-01') ON CONFLICT DO NOTHING;
            INSERT INTO provisions (code_version_id, number, title, zero_tolerance)
                SELECT id, '3.1', 'Wages for all hours worked', false FROM code_versions ON CONFLICT DO NOTHING;
            INSERT INTO provisions (code_version_id, number, title, zero_tolerance)
                SELECT id, '1.2', 'Violence and threats', true FROM code_versions ON CONFLICT DO NOTHING;
            INSERT INTO complaint_provisions (complaint_id, provision_id)
                SELECT @Id, id FROM provisions WHERE number = '3.1' OR (@zeroToleranceProvision AND number = '1.2');
            UPDATE complaints SET supplier_id = @supplierId, severity = @severity,
                shareable_summary = 'Workers on one crew report unpaid waiting time at the start of shifts.' WHERE id = @Id;
            """, new { supplierId, buyerId, WebhookUrl, BuyerEmail, opened.Id, severity, zeroToleranceProvision }, transaction);
        await WsrHotline.Deadlines.ComplaintClocks.RecomputeAsync(connection, transaction, opened.Id, now, null, CancellationToken.None);
        await connection.ExecuteAsync("""
            INSERT INTO messages (message_sid, direction, channel, caller_identity_id, complaint_id, body_encrypted, status, purpose)
            VALUES (@sid, 'inbound', 'sms', @identityId, @Id, @body, 'received', 'complaint')
            """, new { sid = "SMseed" + suffix + opened.Id, identityId, opened.Id, body = pii.Encrypt(words, PiiPurpose.MessageBody) }, transaction);
        // The private note stands in for the case-work notes (encrypted or not, it must never leave).
        await Timeline.AppendAsync(connection, transaction, opened.Id, TimelineActor.Staff, null, "note.added", new { note }, CancellationToken.None);
        await transaction.CommitAsync();
        return new SeededComplaint(opened.Id, opened.CaseNumber, number, name, words, note);
    }

    public async Task<List<(long Id, string Level, string Channel, string Status, int Attempts, int? BuyerId)>> EscalationsAsync(long? complaintId = null)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<(long, string, string, string, int, int?)>("""
            SELECT id, level, channel, status, attempts, buyer_id FROM escalations
            WHERE @complaintId::bigint IS NULL OR complaint_id = @complaintId ORDER BY id
            """, new { complaintId })];
    }

    public async Task<List<string>> TimelineKindsAsync(long complaintId)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<string>(
            "SELECT kind FROM case_timeline WHERE complaint_id = @complaintId ORDER BY id", new { complaintId })];
    }

    public async Task<List<(string Kind, string Audience, string Payload)>> ConsoleEventsAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<(string, string, string)>("SELECT kind, audience, payload::text FROM console_events ORDER BY id")];
    }

    /// <summary>An e-mail's subject and body as a reader sees them (transfer encodings undone).</summary>
    public static string Readable(ReceivedMail mail)
    {
        var split = mail.Data.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var headers = mail.Data[..split];
        var body = mail.Data[(split + 4)..];
        var decodedHeaders = Regex.Replace(headers.Replace("\r\n ", " ", StringComparison.Ordinal), @"=\?utf-8\?(B|Q)\?([^?]*)\?=", match =>
            match.Groups[1].Value.Equals("B", StringComparison.OrdinalIgnoreCase)
                ? Encoding.UTF8.GetString(Convert.FromBase64String(match.Groups[2].Value))
                : QuotedPrintable(match.Groups[2].Value.Replace('_', ' ')), RegexOptions.IgnoreCase);
        if (headers.Contains("Content-Transfer-Encoding: base64", StringComparison.OrdinalIgnoreCase))
        {
            body = Encoding.UTF8.GetString(Convert.FromBase64String(body.Replace("\r\n", "", StringComparison.Ordinal)));
        }
        else if (headers.Contains("Content-Transfer-Encoding: quoted-printable", StringComparison.OrdinalIgnoreCase))
        {
            body = QuotedPrintable(body.Replace("=\r\n", "", StringComparison.Ordinal));
        }
        return decodedHeaders + "\n\n" + body;
    }

    private static string QuotedPrintable(string text)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '=' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in Apps)
        {
            await app.DisposeAsync();
        }
        await buyerEndpoint.StopAsync();
        await buyerEndpoint.DisposeAsync();
        await Smtp.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(Database);
    }
}
