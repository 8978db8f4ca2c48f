using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Twilio.TwiML;

namespace WsrHotline.Twilio.Tests;

/// <summary>The REST client, resolved from DI as the app does, against a real local HTTP server.</summary>
public class TwilioRestClientTests
{
    private const string AccountSid = "AC00000000000000000000000000000001";
    private const string AuthToken = "secret-token";
    private const string MessagesPath = "/2010-04-01/Accounts/" + AccountSid + "/Messages.json";
    private const string CreatedMessage = """{"sid":"SM123","status":"queued","error_code":null,"body":"x"}""";

    private static readonly string ExpectedAuthorization =
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(AccountSid + ":" + AuthToken));

    [Fact]
    public async Task Send_sms_posts_the_form_with_basic_auth_and_reads_sid_and_status()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => FakeTwilioApi.Json(context, 201, CreatedMessage));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var created = await client.SendMessageAsync(new OutboundMessage
        {
            To = "+15555550101",
            From = "+18005550100",
            Body = "Recibimos su reporte. Número de caso: 42",
            MediaUrls = [new Uri("https://hotline.example.org/media/a.png"), new Uri("https://hotline.example.org/media/b.png")],
            StatusCallback = new Uri("https://hotline.example.org/twilio/messaging/status"),
        });

        Assert.Equal(new MessageResource("SM123", "queued", null), created);
        var request = Assert.Single(api.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal(MessagesPath, request.Path);
        Assert.Equal(ExpectedAuthorization, request.Authorization);
        Assert.Equal("+15555550101", request.Field("To"));
        Assert.Equal("+18005550100", request.Field("From"));
        Assert.Equal("Recibimos su reporte. Número de caso: 42", request.Field("Body"));
        Assert.Equal(["https://hotline.example.org/media/a.png", "https://hotline.example.org/media/b.png"], request.Fields("MediaUrl"));
        Assert.Equal("https://hotline.example.org/twilio/messaging/status", request.Field("StatusCallback"));
        Assert.Null(request.Field("ContentSid"));
    }

    [Fact]
    public async Task Send_whatsapp_template_uses_content_sid_and_variables_instead_of_body()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 201, """{"sid":"SM9","status":"accepted","error_code":63016}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var created = await client.SendMessageAsync(new OutboundMessage
        {
            To = "whatsapp:+15555550101",
            From = "whatsapp:+18005550100",
            ContentSid = "HX0123456789abcdef0123456789abcdef",
            ContentVariables = """{"1":"María","2":"42"}""",
        });

        Assert.Equal(new MessageResource("SM9", "accepted", TwilioErrorCodes.WhatsAppOutsideSessionWindow), created);
        var request = Assert.Single(api.Requests);
        Assert.Equal("whatsapp:+15555550101", request.Field("To"));
        Assert.Equal("whatsapp:+18005550100", request.Field("From"));
        Assert.Equal("HX0123456789abcdef0123456789abcdef", request.Field("ContentSid"));
        Assert.Equal("""{"1":"María","2":"42"}""", request.Field("ContentVariables"));
        Assert.Null(request.Field("Body"));
        Assert.Empty(request.Fields("MediaUrl"));
    }

    [Fact]
    public async Task Message_without_content_is_refused_before_calling_twilio()
    {
        using var services = CreateServices(new Uri("http://127.0.0.1:9/"));
        var client = services.GetRequiredService<TwilioRestClient>();

        await Assert.ThrowsAsync<ArgumentException>(() =>
            client.SendMessageAsync(new OutboundMessage { To = "+15555550101", From = "+18005550100" }));
    }

    [Fact]
    public async Task A_message_answered_503_is_not_posted_again_since_twilio_may_have_taken_it()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) => attempt == 1
            ? FakeTwilioApi.Json(context, 503, """{"code":20503,"message":"Service unavailable","status":503}""")
            : FakeTwilioApi.Json(context, 201, CreatedMessage));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<TwilioApiException>(() => client.SendMessageAsync(Sms()));

        Assert.Equal(503, error.HttpStatus);
        Assert.False(TwilioRestClient.ProvesNotTaken(error));
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task A_message_whose_connection_dropped_mid_request_is_not_posted_again()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) =>
        {
            if (attempt == 1)
            {
                context.Abort();
                return Task.CompletedTask;
            }

            return FakeTwilioApi.Json(context, 201, CreatedMessage);
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendMessageAsync(Sms()));

        Assert.False(TwilioRestClient.ProvesNotTaken(error));
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task A_message_to_an_address_that_refuses_connections_proves_it_was_not_taken()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var services = CreateServices(new Uri($"http://127.0.0.1:{port}/"), maxAttempts: 1);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendMessageAsync(Sms()));

        Assert.True(TwilioRestClient.ProvesNotTaken(error));
    }

    [Fact]
    public async Task A_call_is_placed_again_after_a_503()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) => attempt == 1
            ? FakeTwilioApi.Json(context, 503, """{"code":20503,"message":"Service unavailable","status":503}""")
            : FakeTwilioApi.Json(context, 201, """{"sid":"CA123","status":"queued"}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        await client.CreateCallAsync(new OutboundCall { To = "+15555550101", From = "+18005550100", Twiml = "<Response/>" });

        Assert.Equal(2, api.Requests.Count);
    }

    [Fact]
    public async Task Retries_a_429_after_the_retry_after_delay()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) =>
        {
            if (attempt == 1)
            {
                context.Response.Headers.RetryAfter = "1";
                return FakeTwilioApi.Json(context, 429, """{"code":20429,"message":"Too Many Requests","status":429}""");
            }

            return FakeTwilioApi.Json(context, 201, CreatedMessage);
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var stopwatch = Stopwatch.StartNew();
        var created = await client.SendMessageAsync(Sms());

        Assert.Equal("SM123", created.Sid);
        Assert.Equal(2, api.Requests.Count);
        // The backoff base is 1 ms in these tests, so only Retry-After explains a wait of about a second.
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(900), $"waited only {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task Gives_up_after_max_attempts()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 429, """{"code":20429,"message":"Too Many Requests","status":429}"""));
        using var services = CreateServices(api.BaseAddress, maxAttempts: 3);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<TwilioApiException>(() => client.SendMessageAsync(Sms()));

        Assert.Equal(429, error.HttpStatus);
        Assert.Equal(20429, error.ErrorCode);
        Assert.Equal(3, api.Requests.Count);
    }

    [Fact]
    public async Task Opted_out_recipient_is_a_typed_error_without_personal_data_and_is_not_retried()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => FakeTwilioApi.Json(context, 400,
            """{"code":21610,"message":"Attempt to send to unsubscribed recipient +15555550101","more_info":"https://www.twilio.com/docs/errors/21610","status":400}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<TwilioApiException>(() => client.SendMessageAsync(Sms()));

        Assert.True(error.IsOptOut);
        Assert.Equal(TwilioErrorCodes.RecipientOptedOut, error.ErrorCode);
        Assert.Equal(400, error.HttpStatus);
        Assert.Equal("https://www.twilio.com/docs/errors/21610", error.MoreInfo);
        Assert.DoesNotContain("5555550101", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hello", error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task Non_json_error_body_still_gives_a_typed_error()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
        {
            context.Response.StatusCode = 404;
            return context.Response.WriteAsync("<html>not found</html>");
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var error = await Assert.ThrowsAsync<TwilioApiException>(() => client.SendMessageAsync(Sms()));

        Assert.Equal(404, error.HttpStatus);
        Assert.Null(error.ErrorCode);
        Assert.False(error.IsOptOut);
    }

    [Fact]
    public async Task Create_call_posts_url_status_callback_events_and_timeout()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 201, """{"sid":"CA42","status":"queued"}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var call = await client.CreateCallAsync(new OutboundCall
        {
            To = "+15555550101",
            From = "+18005550100",
            Url = new Uri("https://hotline.example.org/twilio/voice/callback"),
            StatusCallback = new Uri("https://hotline.example.org/twilio/voice/status"),
            StatusCallbackEvents = ["initiated", "answered", "completed"],
            Timeout = 25,
        });

        Assert.Equal(new CallResource("CA42", "queued"), call);
        var request = Assert.Single(api.Requests);
        Assert.Equal("/2010-04-01/Accounts/" + AccountSid + "/Calls.json", request.Path);
        Assert.Equal(ExpectedAuthorization, request.Authorization);
        Assert.Equal("+15555550101", request.Field("To"));
        Assert.Equal("+18005550100", request.Field("From"));
        Assert.Equal("https://hotline.example.org/twilio/voice/callback", request.Field("Url"));
        Assert.Null(request.Field("Twiml"));
        Assert.Equal("https://hotline.example.org/twilio/voice/status", request.Field("StatusCallback"));
        Assert.Equal(["initiated", "answered", "completed"], request.Fields("StatusCallbackEvent"));
        Assert.Equal("25", request.Field("Timeout"));
    }

    [Fact]
    public async Task Create_call_with_inline_twiml()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 201, """{"sid":"CA43","status":"queued"}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();
        var twiml = TwimlWriter.ToXml(new VoiceResponse().Say("Hola & adiós"));

        await client.CreateCallAsync(new OutboundCall { To = "+15555550101", From = "+18005550100", Twiml = twiml });

        var request = Assert.Single(api.Requests);
        Assert.Equal(twiml, request.Field("Twiml"));
        Assert.Null(request.Field("Url"));
        await Assert.ThrowsAsync<ArgumentException>(() =>
            client.CreateCallAsync(new OutboundCall { To = "+1", From = "+1" }));
    }

    [Fact]
    public async Task Hang_up_and_redirect_update_the_call()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 200, """{"sid":"CA42","status":"completed"}"""));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var hungUp = await client.HangUpCallAsync("CA42");
        await client.RedirectCallAsync("CA42", new Uri("https://hotline.example.org/twilio/voice/goodbye"));
        await client.UpdateCallAsync("CA42", new CallUpdate { Twiml = "<Response><Hangup/></Response>" });

        Assert.Equal(new CallResource("CA42", "completed"), hungUp);
        var requests = api.Requests.ToArray();
        Assert.All(requests, r => Assert.Equal("/2010-04-01/Accounts/" + AccountSid + "/Calls/CA42.json", r.Path));
        Assert.Equal("completed", requests[0].Field("Status"));
        Assert.Equal("https://hotline.example.org/twilio/voice/goodbye", requests[1].Field("Url"));
        Assert.Equal("<Response><Hangup/></Response>", requests[2].Field("Twiml"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("CA42/../Messages")]
    [InlineData("CA42?x=1")]
    public async Task Call_sid_that_is_not_alphanumeric_is_refused(string callSid)
    {
        using var services = CreateServices(new Uri("http://127.0.0.1:9/"));
        var client = services.GetRequiredService<TwilioRestClient>();

        await Assert.ThrowsAsync<ArgumentException>(() => client.HangUpCallAsync(callSid));
    }

    [Fact]
    public async Task Media_download_follows_a_redirect_under_the_api_base_with_credentials()
    {
        var mediaBytes = new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3 };
        await using var api = await FakeTwilioApi.StartAsync(async (context, _) =>
        {
            if (context.Request.Path.StartsWithSegments("/2010-04-01", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
                context.Response.Headers.Location = "/cdn/ME1";
                return;
            }

            context.Response.ContentType = "image/jpeg";
            await context.Response.Body.WriteAsync(mediaBytes);
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var media = await client.DownloadMediaAsync(
            new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1"));

        Assert.Equal(mediaBytes, media.Content.ToArray());
        Assert.Equal("image/jpeg", media.ContentType);
        Assert.Equal([ExpectedAuthorization, ExpectedAuthorization], api.Requests.Select(r => r.Authorization));
    }

    /// <summary>
    /// Addresses a webhook could name to reach the hotline's own network: loopback in every spelling,
    /// the private ranges, the cloud metadata service, and http to an allowed host. {port} is a local
    /// listener standing in for an internal admin page (no test sends traffic anywhere but loopback:
    /// every one of these is refused before any connection).
    /// </summary>
    public static TheoryData<string, string> RefusedMediaUrls() => new()
    {
        { "http://127.0.0.1:{port}/internal-admin/secret", "scheme" },
        { "https://127.0.0.1:{port}/internal-admin/secret", "host" },
        { "https://2130706433:{port}/internal-admin/secret", "host" },
        { "https://0x7f000001:{port}/internal-admin/secret", "host" },
        { "https://0177.0.0.1:{port}/internal-admin/secret", "host" },
        { "https://127.1:{port}/internal-admin/secret", "host" },
        { "https://[::1]:{port}/internal-admin/secret", "host" },
        { "https://[::ffff:127.0.0.1]:{port}/internal-admin/secret", "host" },
        { "https://localhost:{port}/internal-admin/secret", "host" },
        { "https://localhost/internal-admin/secret", "host" },
        { "https://10.0.0.1/internal-admin/secret", "host" },
        { "https://172.16.0.1/internal-admin/secret", "host" },
        { "https://192.168.1.1/internal-admin/secret", "host" },
        { "https://169.254.169.254/latest/meta-data/", "host" },
        { "http://169.254.169.254/latest/meta-data/", "scheme" },
        { "https://api.twilio.com.attacker.example/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "host" },
        { "https://twiliocdn.com.attacker.example/ME1", "host" },
        { "https://api.twilio.com:8443/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "host" },
        { "https://user:pass@api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "url" },
        { "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "scheme" },
        { "ftp://api.twilio.com/ME1", "scheme" },
    };

    [Theory]
    [MemberData(nameof(RefusedMediaUrls))]
    public async Task Media_urls_off_twilios_media_hosts_are_refused_before_any_connection(string template, string reason)
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => context.Response.WriteAsync("api"));
        await using var admin = await FakeTwilioApi.StartAsync((context, _) => context.Response.WriteAsync("secret"));
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();
        var url = new Uri(template.Replace("{port}", admin.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => client.DownloadMediaAsync(url));

        Assert.Equal(reason, refused.Reason);
        Assert.DoesNotContain(url.Host, refused.Message, StringComparison.Ordinal);
        Assert.Empty(admin.Requests);
        Assert.Empty(api.Requests);
    }

    [Theory]
    [InlineData("http://127.0.0.1:{port}/internal-admin/secret", "scheme")]
    [InlineData("https://169.254.169.254/latest/meta-data/", "host")]
    [InlineData("https://10.1.2.3/internal-admin/secret", "host")]
    public async Task A_redirect_from_the_api_to_an_internal_address_is_refused_before_it_is_followed(string location, string reason)
    {
        await using var admin = await FakeTwilioApi.StartAsync((context, _) => context.Response.WriteAsync("secret"));
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
        {
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = location.Replace("{port}", admin.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            return Task.CompletedTask;
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => client.DownloadMediaAsync(
            new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1")));

        Assert.Equal(reason, refused.Reason);
        Assert.Single(api.Requests);
        Assert.Empty(admin.Requests);
    }

    [Fact]
    public async Task Redirects_are_followed_a_bounded_number_of_times()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, n) =>
        {
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = $"/2010-04-01/Accounts/{AccountSid}/Messages/MM1/Media/ME{n}";
            return Task.CompletedTask;
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => client.DownloadMediaAsync(
            new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME0")));

        Assert.Equal("redirects", refused.Reason);
        Assert.Equal(6, api.Requests.Count);
    }

    [Fact]
    public async Task A_name_that_resolves_to_loopback_is_refused_at_connect_time_unless_it_is_the_api_base()
    {
        // As if an allowed host's DNS had been rebound to 127.0.0.1: the list is passed, the connection is not made.
        await using var admin = await FakeTwilioApi.StartAsync((context, _) => context.Response.WriteAsync("secret"));
        using var services = CreateServices(new Uri("https://api.twilio.com"));
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = services.GetRequiredService<MediaHosts>().ConnectAsync });

        var failed = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://localhost:{admin.BaseAddress.Port}/internal-admin/secret")));
        Assert.Equal("address", Assert.IsType<TwilioUrlRefusedException>(failed.InnerException).Reason);
        failed = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://127.0.0.1:{admin.BaseAddress.Port}/internal-admin/secret")));
        Assert.Equal("address", Assert.IsType<TwilioUrlRefusedException>(failed.InnerException).Reason);
        Assert.Empty(admin.Requests);

        // The configured ApiBaseUrl's own host and port (the simulator's stand-in) is the one exception.
        using var local = CreateServices(admin.BaseAddress);
        using var allowed = new HttpClient(new SocketsHttpHandler { ConnectCallback = local.GetRequiredService<MediaHosts>().ConnectAsync });
        Assert.Equal("secret", await allowed.GetStringAsync(new Uri(admin.BaseAddress, "/anything")));
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.255.255.254", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("10.20.30.40", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.0.10", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("64:ff9b::a9fe:a9fe", false)]
    [InlineData("2002:7f00:1::", false)]
    [InlineData("2001:db8::1", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("8.8.8.8", true)]
    [InlineData("54.172.60.1", true)]
    [InlineData("::ffff:8.8.8.8", true)]
    [InlineData("2600:1f18::1", true)]
    public void Only_public_addresses_count_as_public(string address, bool expected) =>
        Assert.Equal(expected, MediaHosts.IsPublic(System.Net.IPAddress.Parse(address)));

    [Theory]
    [InlineData("http://127.0.0.1:5080/simulator/twilio/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", true)]
    [InlineData("http://127.0.0.1:5080/simulator/twilio/../../console/api/media/1", false)]
    [InlineData("http://127.0.0.1:5080/simulator/twilio/%2e%2e/%2e%2e/console/api/media/1", false)]
    [InlineData("http://127.0.0.1:5080/simulator/twilio/..%2f..%2fconsole/api/media/1", false)]
    [InlineData("http://127.0.0.1:5080/console/api/media/1", false)]
    [InlineData("http://127.0.0.1:5081/simulator/twilio/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", false)]
    [InlineData("https://127.0.0.1:5080/simulator/twilio/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", false)]
    public void Only_urls_under_the_api_base_url_are_allowed_off_the_list(string url, bool allowed)
    {
        var hosts = new MediaHosts(new Uri("http://127.0.0.1:5080/simulator/twilio/"), TwilioOptions.DefaultMediaAllowedHosts);
        Assert.Equal(allowed, hosts.Refusal(new Uri(url)) is null);
    }

    [Theory]
    [InlineData("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")]
    [InlineData("https://mms.twiliocdn.com/AC1/abc?Expires=1")]
    [InlineData("https://media.twiliocdn.com/AC1/abc")]
    [InlineData("https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc")]
    [InlineData("https://API.Twilio.com./2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")]
    public void Twilios_media_hosts_are_allowed_by_default(string url)
    {
        using var services = CreateServices(new Uri("https://api.twilio.com"));
        Assert.Null(services.GetRequiredService<MediaHosts>().Refusal(new Uri(url)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Media_download_stops_at_the_limit_whether_or_not_the_length_is_announced(bool announceLength)
    {
        var file = new byte[300_000];
        await using var api = await FakeTwilioApi.StartAsync(async (context, _) =>
        {
            context.Response.ContentType = "video/mp4";
            if (announceLength)
            {
                context.Response.ContentLength = file.Length;
            }

            // Without a length the body goes chunked, in pieces.
            for (var offset = 0; offset < file.Length; offset += 50_000)
            {
                await context.Response.Body.WriteAsync(file.AsMemory(offset, 50_000));
                await context.Response.Body.FlushAsync();
            }
        });
        using var services = CreateServices(api.BaseAddress);
        var client = services.GetRequiredService<TwilioRestClient>();
        var url = new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1");

        var refused = await Assert.ThrowsAsync<MediaTooLargeException>(() => client.DownloadMediaAsync(url, maxBytes: 100_000));
        var fitting = await client.DownloadMediaAsync(url, maxBytes: 300_000);

        Assert.Equal(100_000, refused.LimitBytes);
        Assert.Equal(file.Length, fitting.Content.Length);
    }

    private static OutboundMessage Sms() => new() { To = "+15555550101", From = "+18005550100", Body = "hello" };

    private static ServiceProvider CreateServices(Uri apiBaseUrl, int maxAttempts = 4)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Twilio:AccountSid"] = AccountSid,
                ["Twilio:AuthToken"] = AuthToken,
                ["Twilio:ApiBaseUrl"] = apiBaseUrl.ToString(),
                ["Twilio:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Twilio:RetryBaseDelay"] = "00:00:00.001",
            })
            .Build();

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTwilioClient(configuration);
        return services.BuildServiceProvider();
    }
}
