using System.Net;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Hosting;

/// <summary>
/// Behind a proxy the app rebuilds the URL Twilio signed from X-Forwarded-Proto/Host, but only when
/// the request comes from a configured proxy: anyone else could otherwise make a signature for their
/// own host pass.
/// </summary>
public sealed class ForwardedHeadersTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string PublicUrl = "https://hotline.example.org/twilio/voice/status";

    [Theory]
    [InlineData(null, HttpStatusCode.Forbidden)]
    [InlineData("10.9.9.9", HttpStatusCode.Forbidden)]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    public async Task Forwarded_headers_count_only_from_a_configured_proxy(string? knownProxy, HttpStatusCode expected)
    {
        var port = TestHostOptions.FreeLoopbackPort();
        await using var factory = new HotlineFactory(new TestHostOptions(database.ConnectionString)
        {
            LoopbackPort = port,
            Settings = settings =>
            {
                // No public address configured: the signed URL comes from the request (and its proxy).
                settings.Remove("Twilio:PublicBaseUrl");
                if (knownProxy is not null)
                {
                    settings["Proxy:KnownProxies:0"] = knownProxy;
                }
            },
        });
        factory.StartServer();
        using var client = factory.CreateClient();
        var form = new List<KeyValuePair<string, string>> { new("CallSid", "CAproxy0001"), new("CallStatus", "completed") };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://127.0.0.1:{port}/twilio/voice/status"))
        {
            Content = new FormUrlEncodedContent(form),
        };
        // Signed for the public address a proxy would have received the request on.
        request.Headers.Add(TwilioRequestSigner.SignatureHeader, TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, PublicUrl, form));
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "hotline.example.org");

        using var response = await client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }
}
