using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Twilio.TwiML;
using WsrHotline.Simulator;

namespace WsrHotline.Twilio.Tests;

/// <summary>The filter in a real (in-memory) ASP.NET Core pipeline, as the app will use it.</summary>
public class ValidateTwilioRequestFilterTests
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private const string CallerNumber = "+15555550100";

    private static readonly Dictionary<string, string> IncomingCall = new()
    {
        ["CallSid"] = "CA0001",
        ["From"] = CallerNumber,
        ["To"] = "+18005550100",
        ["CallStatus"] = "ringing",
    };

    [Fact]
    public async Task Signed_form_post_reaches_the_endpoint_and_gets_twiml()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();

        using var response = await PostFormAsync(client, "/twilio/voice/incoming", IncomingCall,
            TwilioRequestSigner.Sign(Token, "http://localhost/twilio/voice/incoming", IncomingCall));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/xml; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal(
            """<?xml version="1.0" encoding="utf-8"?><Response><Say>Call CA0001</Say></Response>""",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Query_string_is_part_of_the_signed_url()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();

        using var signed = await PostFormAsync(client, "/twilio/voice/incoming?lang=es", IncomingCall,
            TwilioRequestSigner.Sign(Token, "http://localhost/twilio/voice/incoming?lang=es", IncomingCall));
        using var unsignedQuery = await PostFormAsync(client, "/twilio/voice/incoming?lang=es", IncomingCall,
            TwilioRequestSigner.Sign(Token, "http://localhost/twilio/voice/incoming", IncomingCall));

        Assert.Equal(HttpStatusCode.OK, signed.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unsignedQuery.StatusCode);
    }

    [Fact]
    public async Task Forged_signature_gets_a_bare_403_and_a_log_line_without_personal_data()
    {
        var logs = new ListLoggerProvider();
        await using var app = await StartAppAsync(logs: logs);
        using var client = app.GetTestClient();

        using var response = await PostFormAsync(client, "/twilio/voice/incoming?from=" + Uri.EscapeDataString(CallerNumber), IncomingCall,
            TwilioRequestSigner.Sign("guessed-token", "http://localhost/twilio/voice/incoming", IncomingCall));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());

        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 7101);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("/twilio/voice/incoming", warning.Message, StringComparison.Ordinal);
        // ASP.NET Core's own request logging (Microsoft.AspNetCore.Hosting.Diagnostics, Information) does
        // print query strings: the app must keep that category at Warning. Here: only our own lines.
        Assert.All(
            logs.Entries.Where(e => e.Category.StartsWith("WsrHotline", StringComparison.Ordinal)),
            e => Assert.DoesNotContain("5555550100", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tampered_form_gets_403()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();
        var tampered = new Dictionary<string, string>(IncomingCall) { ["From"] = "+15555559999" };

        using var response = await PostFormAsync(client, "/twilio/voice/incoming", tampered,
            TwilioRequestSigner.Sign(Token, "http://localhost/twilio/voice/incoming", IncomingCall));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Missing_signature_header_gets_403()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();

        using var response = await PostFormAsync(client, "/twilio/voice/incoming", IncomingCall, signature: null);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("https://hotline.example.org", "https://hotline.example.org")]
    [InlineData("https://hotline.example.org", "https://hotline.example.org:443")]
    [InlineData("https://hotline.example.org:443", "https://hotline.example.org")]
    [InlineData("https://hotline.example.org:443/", "https://hotline.example.org:443")]
    [InlineData("http://hotline.example.org:80", "http://hotline.example.org")]
    [InlineData("http://hotline.example.org", "http://hotline.example.org:80")]
    public async Task Public_base_url_with_or_without_the_default_port_validates_either_spelling_twilio_signed(string publicBaseUrl, string signedBase)
    {
        await using var app = await StartAppAsync(publicBaseUrl: publicBaseUrl);
        using var client = app.GetTestClient();

        using var response = await PostFormAsync(client, "/twilio/voice/incoming?lang=es", IncomingCall,
            TwilioRequestSigner.Sign(Token, signedBase + "/twilio/voice/incoming?lang=es", IncomingCall));
        using var otherPort = await PostFormAsync(client, "/twilio/voice/incoming?lang=es", IncomingCall,
            TwilioRequestSigner.Sign(Token, signedBase.Split(':')[0] + ":" + signedBase.Split(':')[1] + ":8443/twilio/voice/incoming?lang=es", IncomingCall));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, otherPort.StatusCode);
    }

    [Fact]
    public async Task Behind_a_proxy_the_public_base_url_is_what_twilio_signed()
    {
        await using var app = await StartAppAsync(publicBaseUrl: "https://hotline.example.org/");
        using var client = app.GetTestClient();

        using var publicUrl = await PostFormAsync(client, "/twilio/voice/incoming", IncomingCall,
            TwilioRequestSigner.Sign(Token, "https://hotline.example.org/twilio/voice/incoming", IncomingCall));
        using var internalUrl = await PostFormAsync(client, "/twilio/voice/incoming", IncomingCall,
            TwilioRequestSigner.Sign(Token, "http://localhost/twilio/voice/incoming", IncomingCall));

        Assert.Equal(HttpStatusCode.OK, publicUrl.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, internalUrl.StatusCode);
    }

    [Fact]
    public async Task Json_body_with_bodySHA256_passes_and_the_endpoint_can_still_bind_it()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();
        const string body = """{"event":"example","sid":"EV1"}""";
        var url = TwilioRequestSigner.AppendBodySha256("http://localhost/twilio/events", body);

        using var bound = await PostJsonAsync(client, url, "/twilio/events", body, TwilioRequestSigner.Sign(Token, url));
        using var raw = await PostJsonAsync(client, url, "/twilio/events/raw", body,
            TwilioRequestSigner.Sign(Token, url.Replace("/events", "/events/raw", StringComparison.Ordinal)));

        Assert.Equal(HttpStatusCode.OK, bound.StatusCode);
        Assert.Equal("EV1", await bound.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
        Assert.Equal(body, await raw.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Json_body_that_does_not_match_bodySHA256_gets_403()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();
        const string body = """{"event":"example","sid":"EV1"}""";
        var url = TwilioRequestSigner.AppendBodySha256("http://localhost/twilio/events", body);

        using var response = await PostJsonAsync(client, url, "/twilio/events", body.Replace("EV1", "EV2", StringComparison.Ordinal),
            TwilioRequestSigner.Sign(Token, url));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Json_body_without_bodySHA256_gets_403()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();
        const string url = "http://localhost/twilio/events";

        using var response = await PostJsonAsync(client, url, "/twilio/events", "{}", TwilioRequestSigner.Sign(Token, url));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Validation_can_be_turned_off_for_local_development()
    {
        await using var app = await StartAppAsync(validateSignatures: false);
        using var client = app.GetTestClient();

        using var response = await PostFormAsync(client, "/twilio/voice/incoming", IncomingCall, signature: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Works_on_a_single_endpoint_too()
    {
        await using var app = await StartAppAsync();
        using var client = app.GetTestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/single?CallSid=CA1");
        using var unsigned = await client.SendAsync(request);
        using var signedRequest = new HttpRequestMessage(HttpMethod.Get, "/single?CallSid=CA1");
        signedRequest.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(Token, "http://localhost/single?CallSid=CA1"));
        using var signed = await client.SendAsync(signedRequest);

        Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
        Assert.Equal(HttpStatusCode.OK, signed.StatusCode);
    }

    private static async Task<WebApplication> StartAppAsync(
        string? publicBaseUrl = null,
        bool validateSignatures = true,
        ListLoggerProvider? logs = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twilio:AccountSid"] = "AC0001",
            ["Twilio:AuthToken"] = Token,
            ["Twilio:PublicBaseUrl"] = publicBaseUrl,
            ["Twilio:ValidateSignatures"] = validateSignatures ? "true" : "false",
        });
        builder.Services.AddTwilioClient(builder.Configuration);

        var app = builder.Build();
        var twilio = app.MapGroup("/twilio").ValidateTwilioRequest();
        twilio.MapPost("/voice/incoming", ([FromForm(Name = "CallSid")] string callSid) =>
            new TwiMLResult(new VoiceResponse().Say("Call " + callSid)));
        twilio.MapPost("/events", (TwilioEvent payload) => payload.Sid);
        twilio.MapPost("/events/raw", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            return await reader.ReadToEndAsync();
        });
        app.MapGet("/single", () => "ok").ValidateTwilioRequest();

        await app.StartAsync();
        return app;
    }

    private static async Task<HttpResponseMessage> PostFormAsync(
        HttpClient client,
        string path,
        Dictionary<string, string> form,
        string? signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        if (signature is not null)
        {
            request.Headers.Add(TwilioRequestSigner.SignatureHeader, signature);
        }

        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string signedUrl, string path, string body, string signature)
    {
        var query = signedUrl.Contains('?', StringComparison.Ordinal) ? signedUrl[signedUrl.IndexOf('?', StringComparison.Ordinal)..] : "";
        using var request = new HttpRequestMessage(HttpMethod.Post, path + query)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(TwilioRequestSigner.SignatureHeader, signature);
        return await client.SendAsync(request);
    }

    public sealed record TwilioEvent(string Event, string Sid);

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<LogEntry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new ListLogger(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class ListLogger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception)));
        }
    }

    private sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message);
}
