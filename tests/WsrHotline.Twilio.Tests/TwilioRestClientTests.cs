using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace WsrHotline.Twilio.Tests;

/// <summary>
/// The SDK's REST client as the app registers it (<see cref="TwilioRestServiceCollectionExtensions.AddTwilioRestClient"/>),
/// against a real local HTTP server standing in for Twilio under an <c>ApiBaseUrl</c> with a path, as
/// the simulator's does: what it sends, and the retry promises (a message at most once, a call again after a 5xx).
/// </summary>
public class TwilioRestClientTests
{
    private const string AccountSid = "AC00000000000000000000000000000001";
    private const string AuthToken = "secret-token";
    private const string BasePath = "/stand-in/twilio";
    private const string AccountPath = BasePath + "/2010-04-01/Accounts/" + AccountSid;
    private const string CreatedMessage = """{"sid":"SM123","status":"queued","error_code":null,"body":"x"}""";
    private const string ServiceUnavailable = """{"code":20503,"message":"Service unavailable","status":503}""";

    private static readonly string ExpectedAuthorization =
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(AccountSid + ":" + AuthToken));

    [Fact]
    public async Task A_message_is_posted_under_the_api_base_url_with_basic_auth_and_its_sid_and_status_read()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => FakeTwilioApi.Json(context, 201, CreatedMessage));
        using var services = CreateServices(api);

        var created = await MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("+15555550101"))
        {
            From = new PhoneNumber("+18005550100"),
            Body = "Recibimos su reporte. Número de caso: 42",
            MediaUrl = [new Uri("https://hotline.example.org/media/a.png"), new Uri("https://hotline.example.org/media/b.png")],
            StatusCallback = new Uri("https://hotline.example.org/twilio/messaging/status"),
        }, Client(services));

        Assert.Equal("SM123", created.Sid);
        Assert.Equal(MessageResource.StatusEnum.Queued, created.Status);
        Assert.Null(created.ErrorCode);
        var request = Assert.Single(api.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal(AccountPath + "/Messages.json", request.Path);
        Assert.Equal(ExpectedAuthorization, request.Authorization);
        Assert.Equal("+15555550101", request.Field("To"));
        Assert.Equal("+18005550100", request.Field("From"));
        Assert.Equal("Recibimos su reporte. Número de caso: 42", request.Field("Body"));
        Assert.Equal(["https://hotline.example.org/media/a.png", "https://hotline.example.org/media/b.png"], request.Fields("MediaUrl"));
        Assert.Equal("https://hotline.example.org/twilio/messaging/status", request.Field("StatusCallback"));
        Assert.Null(request.Field("ContentSid"));
    }

    [Fact]
    public async Task A_whatsapp_template_goes_as_content_sid_and_variables_without_a_body()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 201, """{"sid":"SM9","status":"accepted","error_code":63016}"""));
        using var services = CreateServices(api);

        var created = await MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("whatsapp:+15555550101"))
        {
            From = new PhoneNumber("whatsapp:+18005550100"),
            ContentSid = "HX0123456789abcdef0123456789abcdef",
            ContentVariables = """{"1":"María","2":"42"}""",
        }, Client(services));

        Assert.Equal(TwilioErrorCodes.WhatsAppOutsideSessionWindow, created.ErrorCode);
        var request = Assert.Single(api.Requests);
        Assert.Equal("whatsapp:+15555550101", request.Field("To"));
        Assert.Equal("whatsapp:+18005550100", request.Field("From"));
        Assert.Equal("HX0123456789abcdef0123456789abcdef", request.Field("ContentSid"));
        Assert.Equal("""{"1":"María","2":"42"}""", request.Field("ContentVariables"));
        Assert.Null(request.Field("Body"));
        Assert.Empty(request.Fields("MediaUrl"));
    }

    [Fact]
    public async Task A_message_answered_503_is_not_posted_again_since_twilio_may_have_taken_it()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) => attempt == 1
            ? FakeTwilioApi.Json(context, 503, ServiceUnavailable)
            : FakeTwilioApi.Json(context, 201, CreatedMessage));
        using var services = CreateServices(api);

        var error = await Assert.ThrowsAsync<ApiException>(() => SendSmsAsync(services));

        Assert.Equal(503, error.Status);
        Assert.False(TwilioFailures.ProvesNotTaken(error));
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
        using var services = CreateServices(api);

        var error = await Assert.ThrowsAsync<ApiConnectionException>(() => SendSmsAsync(services));

        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.False(TwilioFailures.ProvesNotTaken(error));
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task A_message_whose_attempt_timed_out_is_not_posted_again_but_a_call_is()
    {
        await using var api = await FakeTwilioApi.StartAsync(async (context, attempt) =>
        {
            if (attempt == 1 || attempt == 2)
            {
                // No answer until the client gives up at Twilio:RequestTimeout, while Twilio may be acting on it: the
                // stand-in waits for the abort (the slow server is the point of the test), not for a fixed while.
                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            await FakeTwilioApi.Json(context, 201, """{"sid":"CA123","status":"queued"}""");
        });
        using var services = CreateServices(api, settings => settings["Twilio:RequestTimeout"] = "00:00:00.500");

        var error = await Assert.ThrowsAsync<ApiConnectionException>(() => SendSmsAsync(services));
        Assert.False(TwilioFailures.ProvesNotTaken(error));
        Assert.Single(api.Requests);

        var call = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber("+15555550101"), new PhoneNumber("+18005550100"))
        {
            Twiml = new Twiml("<Response/>"),
        }, Client(services));
        Assert.Equal("CA123", call.Sid);
        Assert.Equal(3, api.Requests.Count);
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
        using var services = CreateServices(new Uri($"http://127.0.0.1:{port}{BasePath}"), settings => settings["Twilio:MaxAttempts"] = "1");

        var error = await Assert.ThrowsAsync<ApiConnectionException>(() => SendSmsAsync(services));

        Assert.True(TwilioFailures.ProvesNotTaken(error));
        Assert.Equal("HttpRequestException", TwilioFailures.Describe(error));
    }

    [Fact]
    public async Task A_call_is_placed_again_after_a_503()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) => attempt == 1
            ? FakeTwilioApi.Json(context, 503, ServiceUnavailable)
            : FakeTwilioApi.Json(context, 201, """{"sid":"CA123","status":"queued"}"""));
        using var services = CreateServices(api);

        await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber("+15555550101"), new PhoneNumber("+18005550100"))
        {
            Twiml = new Twiml("<Response/>"),
        }, Client(services));

        Assert.Equal(2, api.Requests.Count);
    }

    [Fact]
    public async Task A_message_answered_429_is_posted_again_after_the_retry_after_delay()
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
        using var services = CreateServices(api);

        var stopwatch = Stopwatch.StartNew();
        var created = await SendSmsAsync(services);

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
        using var services = CreateServices(api, settings => settings["Twilio:MaxAttempts"] = "3");

        var error = await Assert.ThrowsAsync<ApiException>(() => SendSmsAsync(services));

        Assert.Equal(429, error.Status);
        Assert.Equal(TwilioErrorCodes.TooManyRequests, error.Code);
        Assert.True(TwilioFailures.ProvesNotTaken(error));
        Assert.Equal(3, api.Requests.Count);
    }

    [Fact]
    public async Task An_opted_out_recipient_is_the_sdks_error_21610_described_without_personal_data_and_not_retried()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => FakeTwilioApi.Json(context, 400,
            """{"code":21610,"message":"Attempt to send to unsubscribed recipient +15555550101","more_info":"https://www.twilio.com/docs/errors/21610","status":400}"""));
        using var services = CreateServices(api);

        var error = await Assert.ThrowsAsync<ApiException>(() => SendSmsAsync(services));

        Assert.True(TwilioFailures.IsOptOut(error));
        Assert.Equal(TwilioErrorCodes.RecipientOptedOut, TwilioFailures.ErrorCode(error));
        Assert.Equal(400, TwilioFailures.HttpStatus(error));
        Assert.True(TwilioFailures.ProvesNotTaken(error));
        Assert.Equal("twilio: HTTP 400, error 21610", TwilioFailures.Describe(error));
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task An_error_body_that_is_not_twilios_json_is_taken_as_possibly_sent()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
        {
            context.Response.StatusCode = 502;
            return context.Response.WriteAsync("<html>bad gateway</html>");
        });
        using var services = CreateServices(api, settings => settings["Twilio:MaxAttempts"] = "1");

        var error = await Assert.ThrowsAsync<ApiException>(() => SendSmsAsync(services));

        // The SDK keeps no status without Twilio's JSON: the sender must not resend what it cannot judge.
        Assert.Null(TwilioFailures.HttpStatus(error));
        Assert.Null(TwilioFailures.ErrorCode(error));
        Assert.False(TwilioFailures.ProvesNotTaken(error));
        Assert.False(TwilioFailures.IsOptOut(error));
    }

    [Fact]
    public async Task A_call_posts_url_status_callback_events_and_timeout()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 201, """{"sid":"CA42","status":"queued"}"""));
        using var services = CreateServices(api);

        var call = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber("client:staff-7"), new PhoneNumber("+18005550100"))
        {
            Url = new Uri("https://hotline.example.org/twilio/voice/console-bridge?leg=5"),
            StatusCallback = new Uri("https://hotline.example.org/twilio/voice/leg-status?leg=5"),
            StatusCallbackEvent = ["initiated", "answered", "completed"],
            Timeout = 25,
        }, Client(services));

        Assert.Equal("CA42", call.Sid);
        Assert.Equal(CallResource.StatusEnum.Queued, call.Status);
        var request = Assert.Single(api.Requests);
        Assert.Equal(AccountPath + "/Calls.json", request.Path);
        Assert.Equal(ExpectedAuthorization, request.Authorization);
        Assert.Equal("client:staff-7", request.Field("To"));
        Assert.Equal("+18005550100", request.Field("From"));
        Assert.Equal("https://hotline.example.org/twilio/voice/console-bridge?leg=5", request.Field("Url"));
        Assert.Null(request.Field("Twiml"));
        Assert.Equal("https://hotline.example.org/twilio/voice/leg-status?leg=5", request.Field("StatusCallback"));
        Assert.Equal(["initiated", "answered", "completed"], request.Fields("StatusCallbackEvent"));
        Assert.Equal("25", request.Field("Timeout"));
    }

    [Fact]
    public async Task Hang_up_and_redirect_update_the_call()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) =>
            FakeTwilioApi.Json(context, 200, """{"sid":"CA42","status":"completed"}"""));
        using var services = CreateServices(api);

        var hungUp = await CallResource.UpdateAsync(new UpdateCallOptions("CA42") { Status = CallResource.UpdateStatusEnum.Completed }, Client(services));
        await CallResource.UpdateAsync(new UpdateCallOptions("CA42") { Url = new Uri("https://hotline.example.org/twilio/voice/goodbye") }, Client(services));

        Assert.Equal(CallResource.StatusEnum.Completed, hungUp.Status);
        var requests = api.Requests.ToArray();
        Assert.All(requests, r => Assert.Equal(AccountPath + "/Calls/CA42.json", r.Path));
        Assert.Equal("completed", requests[0].Field("Status"));
        Assert.Equal("https://hotline.example.org/twilio/voice/goodbye", requests[1].Field("Url"));
    }

    [Fact]
    public async Task A_list_follows_next_page_uri_under_the_api_base_and_a_failed_page_is_fetched_again()
    {
        var queries = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var api = await FakeTwilioApi.StartAsync((context, n) =>
        {
            queries.Enqueue(context.Request.QueryString.Value ?? "");
            var page = context.Request.Query["Page"].ToString();
            return n switch
            {
                1 => FakeTwilioApi.Json(context, 200, $$"""
                    {"messages":[{"sid":"SM1","from":"+15555550101","to":"+18005550100","body":"uno","direction":"inbound","num_media":"0"}],
                     "uri":"/2010-04-01/Accounts/{{AccountSid}}/Messages.json?PageSize=1&Page=0","page_size":1,
                     "next_page_uri":"/2010-04-01/Accounts/{{AccountSid}}/Messages.json?To=%2B18005550100&PageSize=1&Page=1"}
                    """),
                2 => FakeTwilioApi.Json(context, 503, ServiceUnavailable),
                _ => FakeTwilioApi.Json(context, 200, $$"""
                    {"messages":[{"sid":"SM2","from":"+15555550102","to":"+18005550100","body":"dos","direction":"inbound","num_media":"1"}],
                     "uri":"/2010-04-01/Accounts/{{AccountSid}}/Messages.json?PageSize=1&Page={{page}}","page_size":1,"next_page_uri":null}
                    """),
            };
        });
        using var services = CreateServices(api);

        var listed = (await MessageResource.ReadAsync(new ReadMessageOptions
        {
            To = new PhoneNumber("+18005550100"),
            DateSentAfter = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
            PageSize = 1,
        }, Client(services))).ToList();

        Assert.Equal(["SM1", "SM2"], listed.Select(m => m.Sid));
        Assert.Equal("1", listed[1].NumMedia);
        Assert.Equal(MessageResource.DirectionEnum.Inbound, listed[1].Direction);
        Assert.All(api.Requests, r => Assert.Equal(AccountPath + "/Messages.json", r.Path));
        Assert.Equal(3, api.Requests.Count);
        Assert.Contains("To=%2B18005550100", queries.First(), StringComparison.Ordinal);
        Assert.Contains("DateSent%3E=2026-01-02T03%3A04%3A05Z", queries.First(), StringComparison.Ordinal);
        Assert.EndsWith("Page=1", queries.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public void Only_a_message_post_counts_as_sent_at_most_once()
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, $"https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json");
        using var call = new HttpRequestMessage(HttpMethod.Post, $"https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Calls.json");
        using var list = new HttpRequestMessage(HttpMethod.Get, $"https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json?To=%2B1");

        Assert.True(TwilioRetries.IsMessagePost(message));
        Assert.False(TwilioRetries.IsMessagePost(call));
        Assert.False(TwilioRetries.IsMessagePost(list));
    }

    private static Task<MessageResource> SendSmsAsync(ServiceProvider services) =>
        MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("+15555550101"))
        {
            From = new PhoneNumber("+18005550100"),
            Body = "hello",
        }, Client(services));

    private static ITwilioRestClient Client(ServiceProvider services) => services.GetRequiredService<ITwilioRestClient>();

    private static ServiceProvider CreateServices(FakeTwilioApi api, Action<Dictionary<string, string?>>? adjust = null) =>
        CreateServices(new Uri(api.BaseAddress, BasePath), adjust);

    private static ServiceProvider CreateServices(Uri apiBaseUrl, Action<Dictionary<string, string?>>? adjust = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Twilio:AccountSid"] = AccountSid,
            ["Twilio:AuthToken"] = AuthToken,
            ["Twilio:ApiBaseUrl"] = apiBaseUrl.ToString(),
            ["Twilio:RetryBaseDelay"] = "00:00:00.001",
        };
        adjust?.Invoke(settings);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTwilioClient(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return services.BuildServiceProvider();
    }
}
