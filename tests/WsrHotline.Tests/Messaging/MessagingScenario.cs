using System.Collections.Concurrent;
using System.Net;
using Dapper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Twilio.TwiML;
using WsrHotline.Ivr;
using WsrHotline.Messaging;
using WsrHotline.Pii;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Messaging;

/// <summary>A reply as the worker would read it (decrypted), with its queue state.</summary>
public sealed record StoredReply(long Id, string Status, string Purpose, string Body, int Attempts, string? MessageSid, int? ErrorCode);

/// <summary>
/// The real app over a fresh database, with a local stand-in for Twilio's Messages API (a real HTTP
/// server the REST client talks to). No Hangfire server runs: tests send with Sender.SendDueAsync themselves.
/// </summary>
public sealed class MessagingScenario : IAsyncDisposable
{
    public const string SmsNumber = "+18005550101";
    public const string WhatsAppSender = "whatsapp:+18005550102";

    private readonly string database;
    private readonly WebApplication twilioApi;
    private int sidCounter;

    private MessagingScenario(string database, WebApplication twilioApi, HotlineFactory factory)
    {
        this.database = database;
        this.twilioApi = twilioApi;
        Factory = factory;
    }

    public HotlineFactory Factory { get; }

    /// <summary>The scenario's database (for a second app instance over it).</summary>
    public string Database => database;

    /// <summary>What the fake Twilio API received: one form per message it was asked to send.</summary>
    public ConcurrentQueue<Dictionary<string, string>> Sent { get; } = new();

    /// <summary>The fake API's answer to the n-th request (1-based): status code and Twilio error code.</summary>
    public Func<int, (int Status, int? ErrorCode)> Answer { get; set; } = _ => (201, null);

    public NpgsqlDataSource DataSource => Factory.Services.GetRequiredService<NpgsqlDataSource>();

    public IvrFlow Flow => Factory.Services.GetRequiredService<IvrFlowProvider>().Current;

    public DueReplies Sender => new(Factory.Services);

    public static async Task<MessagingScenario> StartAsync(string? connectionString = null, Action<Dictionary<string, string?>>? adjust = null)
    {
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        MessagingScenario? scenario = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var api = builder.Build();
        var count = 0;
        api.Run(async context =>
        {
            var form = (await context.Request.ReadFormAsync()).ToDictionary(f => f.Key, f => f.Value.ToString());
            var n = Interlocked.Increment(ref count);
            var (status, error) = scenario!.Answer(n);
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            if (status is >= 200 and < 300)
            {
                scenario.Sent.Enqueue(form);
                await context.Response.WriteAsync($$"""{"sid":"SM{{n:D32}}","status":"queued","error_code":null}""");
            }
            else
            {
                // Twilio's error body; without a Twilio code, no "code" at all (the SDK cannot read "code":null, and would lose the status).
                var code = error is { } known ? $"\"code\":{known.ToString(System.Globalization.CultureInfo.InvariantCulture)}," : "";
                await context.Response.WriteAsync($$"""{{{code}}"message":"The 'To' number {{form.GetValueOrDefault("To")}} is not reachable","status":{{status}}}""");
            }
        });
        await api.StartAsync();

        var factory = new HotlineFactory(connectionString?.Replace("{database}", database, StringComparison.Ordinal) ?? PostgresServer.ConnectionStringFor(database), settings =>
        {
            settings["Twilio:ApiBaseUrl"] = api.Urls.Single();
            // One HTTP attempt per send, so the sender's own retries are what is tested.
            settings["Twilio:MaxAttempts"] = "1";
            settings["Messaging:SendRetryBaseDelay"] = "00:00:00";
            adjust?.Invoke(settings);
        });
        scenario = new MessagingScenario(database, api, factory);
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);
        return scenario;
    }

    /// <summary>Posts a message webhook signed as Twilio signs it; returns the response.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, params (string Name, string Value)[] fields) => PostAsync(Factory, path, fields);

    /// <summary>Posts a webhook signed as Twilio signs it to an app instance; returns the response.</summary>
    public static async Task<HttpResponseMessage> PostAsync(HotlineFactory instance, string path, params (string Name, string Value)[] fields)
    {
        var form = fields.Select(field => KeyValuePair.Create(field.Name, field.Value)).ToList();
        using var client = instance.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, "https://hotline.test" + path, form));
        return await client.SendAsync(request);
    }

    /// <summary>A worker texts the hotline; returns the MessageSid used once the inbox processor has handled it.</summary>
    public async Task<string> TextAsync(
        string from, string body, string to = SmsNumber, string? sid = null, int numMedia = 0, IReadOnlyList<(string Url, string ContentType)>? media = null)
    {
        sid ??= $"SMin{Interlocked.Increment(ref sidCounter):D30}";
        media ??= [];
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        var response = await PostAsync("/twilio/messaging/incoming", [
            ("MessageSid", sid), ("From", from), ("To", to), ("Body", body), ("NumMedia", Math.Max(numMedia, media.Count).ToString(culture)),
            .. media.SelectMany((item, n) => new[] { ($"MediaUrl{n.ToString(culture)}", item.Url), ($"MediaContentType{n.ToString(culture)}", item.ContentType) })]);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n{Factory.Logs.All}");
        // Replies go out through the queue, never in the TwiML answer.
        Assert.Equal(TwimlWriter.ToXml(new MessagingResponse()), await response.Content.ReadAsStringAsync());
        await InboxWait.ProcessedAsync(DataSource, sid);
        return sid;
    }

    /// <summary>Every reply queued for a number, oldest first, decrypted.</summary>
    public async Task<List<StoredReply>> RepliesAsync(string from)
    {
        var pii = Factory.Services.GetRequiredService<PiiProtector>();
        await using var connection = await DataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(long Id, string Status, string Purpose, string Body, int Attempts, string? MessageSid, int? ErrorCode)>("""
            SELECT m.id, m.status, m.purpose, m.body_encrypted, m.attempts, m.message_sid, m.error_code FROM messages m
            JOIN caller_identities ci ON ci.id = m.caller_identity_id
            WHERE m.direction = 'outbound' AND ci.phone_lookup = @lookup ORDER BY m.id
            """, new { lookup = pii.LookupHash(from, PiiPurpose.CallerPhone) });
        return [.. rows.Select(r => new StoredReply(r.Id, r.Status, r.Purpose, pii.Decrypt(r.Body, PiiPurpose.MessageBody), r.Attempts, r.MessageSid, r.ErrorCode))];
    }

    public string Text(string language, string key, Dictionary<string, string>? values = null) => Flow.RenderText(language, key, values);

    public async ValueTask DisposeAsync()
    {
        await Factory.DisposeAsync();
        await twilioApi.StopAsync();
        await twilioApi.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(database);
    }
}
