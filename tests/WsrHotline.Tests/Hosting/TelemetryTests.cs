using System.Collections.Concurrent;
using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Hosting;

/// <summary>
/// Traces and metrics as a collector receives them: over OTLP to a local receiver, and through an
/// in-memory exporter added after the app's own, so it sees what the OTLP exporter sends.
/// </summary>
public sealed class TelemetryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_text_webhook_is_traced_with_its_database_work_and_no_span_or_metric_holds_the_number_the_words_or_hangfire_polling()
    {
        const string worker = "+15555550199";
        const string words = "Mi patrón retiene mi pasaporte en la finca Zorzal";
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        await using var standIn = await StandIn.StartAsync();
        var spans = new LockedList<Activity>();
        var metrics = new LockedList<MetricSnapshot>();

        // Npgsql's source as seen before the app's rules: Hangfire's queries are traced there.
        var hangfireAtSource = 0;
        using var sourceListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (IsHangfire(activity) && (activity.GetTagItem("db.npgsql.data_source") as string ?? "").Contains(database, StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref hangfireAtSource);
                }
            },
        };
        ActivitySource.AddActivityListener(sourceListener);

        try
        {
            await using var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(database), settings =>
            {
                settings["Telemetry:OtlpEndpoint"] = standIn.Url;
                settings["Telemetry:OtlpProtocol"] = "http/protobuf";
                settings["Twilio:ApiBaseUrl"] = standIn.Url;
                settings["Twilio:MaxAttempts"] = "1";
                // Hangfire's server polls its schema every second: the polling must not be exported.
                settings["Jobs:Enabled"] = "true";
            }, services: services =>
            {
                services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans));
                services.ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics));
            });
            using var client = factory.CreateClient();
            Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);

            var traceId = ActivityTraceId.CreateRandom();
            const string sid = "SMtelemetry0000000000000000000001";
            // A query string as a GET webhook would carry it: the server span must not keep it.
            var response = await PostSignedAsync(client, "/twilio/messaging/incoming?From=" + Uri.EscapeDataString(worker), traceId,
                ("MessageSid", sid), ("From", worker), ("To", "+18005550101"), ("Body", words), ("NumMedia", "0"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await InboxWait.ProcessedAsync(factory.Services.GetRequiredService<NpgsqlDataSource>(), sid);
            await Eventually.TrueAsync(() => standIn.Replies.Any(reply => reply.Contains("5555550199", StringComparison.Ordinal)), "the reply to the worker sent to Twilio", Patience);
            // Other tests' hosts run in this process too, and this provider sees their spans: this test's are
            // those of its own stand-in and its own database.
            bool IsOurTwilioCall(Activity span) => IsTwilioCall(span) && (span.GetTagItem("url.full") as string ?? "").StartsWith(standIn.Url + "/", StringComparison.Ordinal);
            await Eventually.TrueAsync(() => spans.Snapshot().Any(IsOurTwilioCall), "an HttpClient span for the reply's POST to Twilio", Patience);
            await Eventually.TrueAsync(() => Volatile.Read(ref hangfireAtSource) > 0, "Hangfire's server ran a query on this database", Patience);
            Assert.True(factory.Services.GetRequiredService<TracerProvider>().ForceFlush(10_000), "the traces were not flushed");
            Assert.True(factory.Services.GetRequiredService<MeterProvider>().ForceFlush(10_000), "the metrics were not flushed");

            var exported = spans.Snapshot();
            var server = Assert.Single(exported, span => span.TraceId == traceId && span.Kind == ActivityKind.Server);
            Assert.Equal("POST /twilio/messaging/incoming", server.DisplayName);
            Assert.Equal("/twilio/messaging/incoming", server.GetTagItem("url.path"));
            Assert.Null(server.GetTagItem("url.query"));
            var queries = exported.Where(span => span.TraceId == traceId && span.Source.Name == "Npgsql").ToList();
            Assert.NotEmpty(queries);
            Assert.All(queries, span => Assert.Equal(database, span.GetTagItem("db.namespace")));
            Assert.Contains(queries, span => span.GetTagItem("db.query.text") is string sql && sql.Contains("inbound_inbox", StringComparison.Ordinal));
            var twilio = exported.First(IsOurTwilioCall);
            Assert.Equal($"{standIn.Url}/2010-04-01/Accounts/{TestKeys.TwilioAccountSid}/Messages.json", twilio.GetTagItem("url.full"));

            Assert.True(!exported.Any(IsHangfire), "A span of Hangfire's was exported:\n" + string.Join("\n---\n", exported.Where(IsHangfire).Select(Describe)));
            // Other tests' hosts run in this process too: every span exported here went through the same rules.
            Assert.All(exported, span => AssertHoldsNothingOf(Describe(span), worker, words));
            Assert.All(metrics.Snapshot(), metric => AssertHoldsNothingOf(Describe(metric), worker, words));
            var metricNames = metrics.Snapshot().Select(metric => metric.Name).ToHashSet();
            Assert.Contains("http.server.request.duration", metricNames);
            Assert.Contains("http.client.request.duration", metricNames);
            Assert.Contains("db.client.operation.duration", metricNames);
            Assert.Contains(metricNames, name => name.StartsWith("dotnet.", StringComparison.Ordinal));

            // What went out over OTLP: protobuf, whose strings are plain UTF-8.
            var traces = standIn.Otlp("/v1/traces");
            Assert.Contains("/twilio/messaging/incoming", traces, StringComparison.Ordinal);
            Assert.Contains("wsr-hotline", traces, StringComparison.Ordinal);
            AssertHoldsNothingOf(traces, worker, words);
            var exportedMetrics = standIn.Otlp("/v1/metrics");
            Assert.Contains("db.client.operation.duration", exportedMetrics, StringComparison.Ordinal);
            AssertHoldsNothingOf(exportedMetrics, worker, words);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task With_no_endpoint_configured_nothing_of_OpenTelemetry_is_registered()
    {
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        try
        {
            await using var factory = new HotlineFactory(PostgresServer.ConnectionStringFor(database), settings =>
            {
                settings["Telemetry:OtlpEndpoint"] = "";
                settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = "";
            });
            using var client = factory.CreateClient();
            Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);

            Assert.Null(factory.Services.GetService<TracerProvider>());
            Assert.Null(factory.Services.GetService<MeterProvider>());
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public void A_malformed_endpoint_stops_the_start_with_the_key_to_set()
    {
        Exception error = null!;
        // WebApplicationFactory can lose a race with the entry point disposing the failed host (see ConfigurationTests).
        for (var attempt = 0; attempt < 5 && error is null or ObjectDisposedException; attempt++)
        {
            using var factory = new HotlineFactory("Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d",
                settings => settings["Telemetry:OtlpEndpoint"] = "otel-collector:4317");
            error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        }

        Assert.Contains("Telemetry:OtlpEndpoint must be an absolute http or https address", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://api.twilio.com/2010-04-01/Accounts/AC11/Messages.json?To=%2B15555550199", "https://api.twilio.com/2010-04-01/Accounts/AC11/Messages.json")]
    [InlineData("https://api.twilio.com/2010-04-01/Accounts/AC11/Messages/MM1/Media/ME1", "https://api.twilio.com/")]
    [InlineData("https://media.twiliocdn.com/AC11/abc?Expires=1&Signature=x", "https://media.twiliocdn.com/")]
    [InlineData("https://buyer.example:8443/hooks/s3cr3t?case=1", "https://buyer.example:8443/")]
    public void An_outgoing_url_keeps_only_its_origin_unless_it_is_a_twilio_rest_resource(string url, string exported) =>
        Assert.Equal(exported, WsrHotline.Hosting.TelemetrySpanRules.Redacted(new Uri(url)));

    private static bool IsTwilioCall(Activity span) =>
        span.Source.Name == "System.Net.Http" && (span.GetTagItem("url.full") as string ?? "").EndsWith("/Messages.json", StringComparison.Ordinal);

    private static bool IsHangfire(Activity span) =>
        span.Source.Name == "Npgsql"
        && ((span.GetTagItem("db.npgsql.data_source") as string ?? "").Contains("Application Name=wsr-hotline-jobs", StringComparison.OrdinalIgnoreCase)
            || (span.GetTagItem("db.query.text") as string ?? "").Contains("hangfire", StringComparison.OrdinalIgnoreCase));

    private static void AssertHoldsNothingOf(string exported, string phone, string words)
    {
        var digits = phone.TrimStart('+')[1..];
        Assert.False(exported.Contains(digits, StringComparison.Ordinal), $"the caller's number is in: {exported}");
        Assert.False(exported.Contains(words, StringComparison.Ordinal) || exported.Contains("Zorzal", StringComparison.Ordinal), $"the message's words are in: {exported}");
        Assert.False(exported.Contains("Password=", StringComparison.OrdinalIgnoreCase), $"a database password is in: {exported}");
    }

    private static string Describe(Activity span) => string.Join("\n", [
        span.DisplayName, span.StatusDescription ?? "",
        .. span.TagObjects.Select(tag => $"{tag.Key}={tag.Value}"),
        .. span.Events.SelectMany(e => e.Tags.Select(tag => $"{e.Name}:{tag.Key}={tag.Value}").Prepend(e.Name)),
        .. span.Baggage.Select(item => $"{item.Key}={item.Value}")]);

    private static string Describe(MetricSnapshot metric)
    {
        var text = new StringBuilder(metric.Name);
        foreach (var point in metric.MetricPoints)
        {
            foreach (var tag in point.Tags)
            {
                text.Append('\n').Append(tag.Key).Append('=').Append(tag.Value);
            }
        }
        return text.ToString();
    }

    private static async Task<HttpResponseMessage> PostSignedAsync(HttpClient client, string path, ActivityTraceId traceId, params (string Name, string Value)[] fields)
    {
        var form = fields.Select(field => KeyValuePair.Create(field.Name, field.Value)).ToList();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, "https://hotline.test" + path, form));
        // Twilio's request as part of a known trace, so its spans are told apart from other tests'.
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        return await client.SendAsync(request);
    }

    /// <summary>A list the exporters add to from their threads while the test reads it.</summary>
    private sealed class LockedList<T> : Collection<T>
    {
        private readonly Lock gate = new();

        public List<T> Snapshot()
        {
            lock (gate)
            {
                return [.. this];
            }
        }

        protected override void InsertItem(int index, T item)
        {
            lock (gate)
            {
                base.InsertItem(index, item);
            }
        }
    }

    /// <summary>One local server in two roles: Twilio's Messages API and an OTLP/HTTP collector.</summary>
    private sealed class StandIn : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> otlp = new();

        private StandIn(WebApplication app) => this.app = app;

        public string Url => app.Urls.Single();

        public ConcurrentQueue<string> Replies { get; } = new();

        public string Otlp(string path) =>
            string.Join("\n", otlp.Where(request => request.Path == path).Select(request => Encoding.UTF8.GetString(request.Body)));

        public static async Task<StandIn> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            var standIn = new StandIn(builder.Build());
            standIn.app.MapPost("/2010-04-01/Accounts/{account}/Messages.json", async (HttpContext context) =>
            {
                var form = await context.Request.ReadFormAsync();
                standIn.Replies.Enqueue(form["To"].ToString());
                context.Response.StatusCode = 201;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync($$"""{"sid":"SM{{Guid.NewGuid():N}}","status":"queued","error_code":null}""");
            });
            standIn.app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                standIn.otlp.Enqueue((context.Request.Path.Value!, body.ToArray()));
                // An empty Export*ServiceResponse: full success.
                context.Response.ContentType = "application/x-protobuf";
            });
            await standIn.app.StartAsync();
            return standIn;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
