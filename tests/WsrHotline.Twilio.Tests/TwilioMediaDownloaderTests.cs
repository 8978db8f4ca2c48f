using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Exceptions;

namespace WsrHotline.Twilio.Tests;

/// <summary>The media download, resolved from DI as the app does, against a real local HTTP server.</summary>
public class TwilioMediaDownloaderTests
{
    private const string AccountSid = "AC00000000000000000000000000000001";
    private const string AuthToken = "secret-token";

    private static readonly string ExpectedAuthorization =
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(AccountSid + ":" + AuthToken));

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
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();

        var media = await downloader.DownloadAsync(
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
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();
        var url = new Uri(template.Replace("{port}", admin.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => downloader.DownloadAsync(url));

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
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => downloader.DownloadAsync(
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
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();

        var refused = await Assert.ThrowsAsync<TwilioUrlRefusedException>(() => downloader.DownloadAsync(
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
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();
        var url = new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1");

        var refused = await Assert.ThrowsAsync<MediaTooLargeException>(() => downloader.DownloadAsync(url, maxBytes: 100_000));
        var fitting = await downloader.DownloadAsync(url, maxBytes: 300_000);

        Assert.Equal(100_000, refused.LimitBytes);
        Assert.Equal(file.Length, fitting.Content.Length);
    }

    [Fact]
    public async Task An_error_answer_is_the_sdks_exception_with_status_and_code_only()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, _) => FakeTwilioApi.Json(context, 404,
            """{"code":20404,"message":"The requested resource /Media/ME1 of +15555550101 was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"""));
        using var services = CreateServices(api.BaseAddress);
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();

        var error = await Assert.ThrowsAsync<ApiException>(() => downloader.DownloadAsync(
            new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1")));

        Assert.Equal(404, error.Status);
        Assert.Equal(20404, error.Code);
        Assert.Equal("https://www.twilio.com/docs/errors/20404", error.MoreInfo);
        Assert.DoesNotContain("5555550101", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("twilio: HTTP 404, error 20404", TwilioFailures.Describe(error));
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task A_download_answered_503_is_tried_again()
    {
        await using var api = await FakeTwilioApi.StartAsync((context, attempt) => attempt == 1
            ? FakeTwilioApi.Json(context, 503, """{"code":20503,"message":"Service unavailable","status":503}""")
            : context.Response.WriteAsync("file"));
        using var services = CreateServices(api.BaseAddress);
        var downloader = services.GetRequiredService<TwilioMediaDownloader>();

        var media = await downloader.DownloadAsync(new Uri(api.BaseAddress, "/2010-04-01/Accounts/" + AccountSid + "/Messages/MM1/Media/ME1"));

        Assert.Equal("file"u8.ToArray(), media.Content.ToArray());
        Assert.Equal(2, api.Requests.Count);
    }

    private static ServiceProvider CreateServices(Uri apiBaseUrl)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Twilio:AccountSid"] = AccountSid,
                ["Twilio:AuthToken"] = AuthToken,
                ["Twilio:ApiBaseUrl"] = apiBaseUrl.ToString(),
                ["Twilio:RetryBaseDelay"] = "00:00:00.001",
            })
            .Build();

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTwilioClient(configuration);
        return services.BuildServiceProvider();
    }
}
