using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WsrHotline.Simulator;

namespace WsrHotline.Twilio.Tests;

/// <summary>
/// Malformed, oversized and impossible webhooks through the filter on a real Kestrel (the test server
/// has no request body size limit): never a 5xx, never an error log; 413 over the cap, 403 unless the
/// signature can be shown to verify, 400 when it verifies but a value is impossible.
/// </summary>
[Collection(nameof(MeasuredAlone))]
public sealed class TwilioWebhookInputTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private const string Path = "/twilio/voice/incoming";

    private readonly LogSink logs = new();
    private WebApplication app = null!;
    private HttpClient client = null!;
    private int reached;

    private static readonly List<KeyValuePair<string, string>> IncomingCall =
    [
        new("CallSid", "CA0123456789abcdef0123456789abcdef"),
        new("From", "+15555550100"),
        new("To", "+18005550100"),
        new("CallStatus", "ringing"),
    ];

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twilio:AccountSid"] = "AC0001",
            ["Twilio:AuthToken"] = Token,
            ["Twilio:PublicBaseUrl"] = "https://hotline.test",
        });
        builder.Services.AddTwilioClient(builder.Configuration);
        app = builder.Build();
        // Shaped like the app's webhooks: they read the form themselves.
        app.MapGroup("/twilio").ValidateTwilioRequest().MapPost("/voice/incoming", async (HttpContext http) =>
        {
            Interlocked.Increment(ref reached);
            var form = await http.Request.ReadFormAsync();
            return Results.Text("Call " + form["CallSid"]);
        });
        await app.StartAsync();
        client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
    }

    public async Task DisposeAsync() => await app.DisposeAsync();

    public void Dispose()
    {
        client.Dispose();
        logs.Dispose();
    }

    [Fact]
    public async Task A_genuine_webhook_still_passes()
    {
        using var response = await PostAsync(Form(IncomingCall), Sign(IncomingCall));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Call CA0123456789abcdef0123456789abcdef", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_nul_in_a_value_gets_400_when_signed_and_403_when_not()
    {
        var form = With(IncomingCall, "CallSid", "CA01\0");
        var inFrom = With(IncomingCall, "From", "+1555\0");

        using var signed = await PostAsync(Form(form), Sign(form));
        using var signedFrom = await PostAsync(Form(inFrom), Sign(inFrom));
        using var forged = await PostAsync(Form(form), Sign(IncomingCall));
        using var unsigned = await PostAsync(Form(form), signature: null);

        Assert.Equal(HttpStatusCode.BadRequest, signed.StatusCode);
        Assert.Contains("CallSid", await signed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, signedFrom.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
        AssertNeverReachedAndNoErrors();
        Assert.Contains(logs.Entries, e => e.EventId.Id == 7103 && e.Message.Contains("CallSid", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("CA0123456789abcdef0123456789abcdef0")] // 35 characters
    [InlineData("CA01234567-9abcdef")]
    [InlineData("CA0123 56789")]
    public async Task An_impossible_sid_gets_400(string sid)
    {
        var form = With(IncomingCall, "CallSid", sid);

        using var response = await PostAsync(Form(form), Sign(form));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        AssertNeverReachedAndNoErrors();
    }

    [Theory]
    [InlineData("Digits", "hangup")]
    [InlineData("Digits", "١٢")]
    [InlineData("CallStatus", "some-new_status")]
    [InlineData("From", "client:Anonymous")]
    [InlineData("Body", "a NUL \0 in the worker's own words")]
    [InlineData("SpeechResult", "")]
    public async Task Odd_but_possible_values_reach_the_endpoint(string name, string value)
    {
        var form = With(IncomingCall, name, value);

        using var response = await PostAsync(Form(form), Sign(form));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Too_many_values_a_long_key_broken_multipart_and_utf7_get_403_signed_or_not()
    {
        var many = IncomingCall.Concat(Enumerable.Range(0, 1025).Select(i => KeyValuePair.Create("X" + i, "1"))).ToList();
        var longKey = IncomingCall.Append(KeyValuePair.Create(new string('K', 2049), "1")).ToList();
        var multipart = "--b\r\nContent-Disposition: form-data; name=\"CallSid\"\r\n\r\nCA01\r\n--b"; // no closing boundary
        var utf7 = Encoding.ASCII.GetBytes("CallSid=CA0001&From=%2B15555550100");

        foreach (var (content, parameters) in new (HttpContent Content, List<KeyValuePair<string, string>>? Parameters)[]
        {
            (Form(many), many),
            (Form(longKey), longKey),
            (Raw(Encoding.ASCII.GetBytes(multipart), "multipart/form-data; boundary=b"), [new("CallSid", "CA01")]),
            (Raw(utf7, "application/x-www-form-urlencoded; charset=utf-7"), [new("CallSid", "CA0001"), new("From", "+15555550100")]),
        })
        {
            var body = await content.ReadAsByteArrayAsync();
            using var signed = await PostAsync(Raw(body, content.Headers.ContentType!.ToString()), Sign(parameters!));
            using var unsigned = await PostAsync(Raw(body, content.Headers.ContentType!.ToString()), signature: null);

            Assert.True(signed.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.BadRequest,
                $"{content.Headers.ContentType}, {body.Length} bytes, signed: {(int)signed.StatusCode}");
            Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
            content.Dispose();
        }
        AssertNeverReachedAndNoErrors();
    }

    [Fact]
    public async Task A_nul_in_a_multipart_value_gets_400_when_signed()
    {
        using var content = new MultipartFormDataContent { { new StringContent("CA01\0"), "CallSid" }, { new StringContent("ringing"), "CallStatus" } };

        using var signed = await PostAsync(content, Sign([new("CallSid", "CA01\0"), new("CallStatus", "ringing")]));

        Assert.Equal(HttpStatusCode.BadRequest, signed.StatusCode);
        AssertNeverReachedAndNoErrors();
    }

    [Fact]
    public async Task A_body_over_the_cap_gets_413_by_content_length_or_chunked_signed_or_not()
    {
        var huge = With(IncomingCall, "Body", new string('a', (int)TwilioEndpointExtensions.MaxBodyBytes));
        var fourMiB = With(IncomingCall, "Body", new string('a', 4 * 1024 * 1024 + 1));

        using var byLength = await PostAsync(Form(huge), Sign(huge));
        using var unsignedByLength = await PostAsync(Form(fourMiB), signature: null);
        using var chunked = await PostAsync(Chunked(Form(huge)), Sign(huge));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, byLength.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, unsignedByLength.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        AssertNeverReachedAndNoErrors();
    }

    /// <summary>
    /// The probe's load: eight concurrent unauthenticated 28 MB bodies grew the app by 800 MB. Refused
    /// by their Content-Length (or, chunked, at the cap), they cost the process a few megabytes; the
    /// figure is printed for the README. Alone in its collection, so no other test's allocations count.
    /// </summary>
    [Fact]
    public async Task Eight_concurrent_28_MB_bodies_are_refused_without_being_read()
    {
        const long size = 28L * 1024 * 1024;
        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var content = new StreamContent(new FilledStream(size));
            content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded");
            // Half of them say their length up front, half are sent chunked.
            content.Headers.ContentLength = i % 2 == 0 ? size : null;
            try
            {
                using var response = await PostAsync(content, signature: i < 4 ? null : "forged");
                return response.StatusCode.ToString();
            }
            catch (HttpRequestException ex) when (ex.InnerException is IOException)
            {
                // Kestrel answered 413 and closed the connection while the client was still sending.
                return "closed while sending";
            }
        }));

        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        var allocatedMiB = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (1024.0 * 1024.0);
        output.WriteLine($"8 x 28 MB refused in {elapsed.TotalMilliseconds:F0} ms, {allocatedMiB:F1} MiB allocated by the whole process (client included)");
        output.WriteLine(string.Join(", ", answers));
        Assert.All(answers, answer => Assert.Contains(answer, new[] { nameof(HttpStatusCode.RequestEntityTooLarge), "closed while sending" }));
        // Reading the bodies would allocate 224 MB at the very least.
        Assert.True(allocatedMiB < 32, $"{allocatedMiB:F1} MiB allocated: the bodies were read");
        AssertNeverReachedAndNoErrors();
    }

    [Fact]
    public async Task A_body_just_under_the_cap_passes()
    {
        var form = With(IncomingCall, "Body", "");
        var overhead = (await Form(form).ReadAsByteArrayAsync()).Length;
        var full = With(IncomingCall, "Body", new string('a', (int)TwilioEndpointExtensions.MaxBodyBytes - overhead));

        using var response = await PostAsync(Chunked(Form(full)), Sign(full));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private void AssertNeverReachedAndNoErrors()
    {
        Assert.Equal(0, Volatile.Read(ref reached));
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
    }

    private static List<KeyValuePair<string, string>> With(List<KeyValuePair<string, string>> form, string name, string value) =>
        [.. form.Where(field => field.Key != name), KeyValuePair.Create(name, value)];

    private static string Sign(List<KeyValuePair<string, string>> form) => TwilioRequestSigner.Sign(Token, "https://hotline.test" + Path, form);

    private static FormUrlEncodedContent Form(List<KeyValuePair<string, string>> form) => new(form);

    private static ByteArrayContent Raw(byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    /// <summary>The same bytes with no Content-Length: sent chunked, so only the server's limit stops them.</summary>
    private static StreamContent Chunked(HttpContent content)
    {
        var stream = new MemoryStream(content.ReadAsByteArrayAsync().GetAwaiter().GetResult());
        var chunked = new StreamContent(stream);
        chunked.Headers.ContentType = content.Headers.ContentType;
        content.Dispose();
        return chunked;
    }

    private async Task<HttpResponseMessage> PostAsync(HttpContent content, string? signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = content };
        if (signature is not null)
        {
            request.Headers.Add(TwilioRequestSigner.SignatureHeader, signature);
        }
        return await client.SendAsync(request);
    }

    /// <summary>A body of the given length made as it is read, so the client holds none of it.</summary>
    private sealed class FilledStream(long length) : Stream
    {
        private long position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - position);
            buffer.AsSpan(offset, n).Fill((byte)'a');
            position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class LogSink : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, EventId EventId, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Entries);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<(LogLevel, EventId, string)> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue((logLevel, eventId, formatter(state, exception) + (exception is null ? "" : " " + exception)));
        }
    }
}

/// <summary>Tests that measure the whole process (its allocations) run alone, after the others.</summary>
[CollectionDefinition(nameof(MeasuredAlone), DisableParallelization = true)]
public sealed class MeasuredAlone;
