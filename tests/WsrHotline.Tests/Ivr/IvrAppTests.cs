using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Ivr;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Ivr;

/// <summary>The flow inside the running app: checked at start, its recordings served to Twilio.</summary>
public sealed class IvrAppTests : IDisposable
{
    // The IVR needs no database: the app starts and serves audio while PostgreSQL is unreachable.
    private const string AnyDatabase = "Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d";

    private readonly FlowsCopy flows = new();

    public void Dispose() => flows.Dispose();

    [Fact]
    public void The_app_refuses_to_start_with_an_invalid_flow_and_says_what_is_wrong()
    {
        flows.Delete("audio/ht/goodbye.wav");

        // WebApplicationFactory sometimes reports the entry point's disposal instead of the start-up
        // error (see ConfigurationTests); only that race is retried.
        Exception error = null!;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var factory = new HotlineFactory(AnyDatabase, settings => settings["Ivr:FlowsPath"] = flows.Path);
            error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
            if (error is not ObjectDisposedException)
            {
                break;
            }
        }

        Assert.Contains("ivr-flows/prompts/ht.yaml:", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("prompt 'goodbye': audio file audio/ht/goodbye.wav does not exist", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_audio_endpoint_serves_the_recordings_the_flow_plays()
    {
        using var factory = new HotlineFactory(AnyDatabase, settings => settings["Ivr:FlowsPath"] = flows.Path);
        using var client = factory.CreateClient();
        var flow = factory.Services.GetRequiredService<IvrFlowProvider>().Current;
        var url = new Uri(((PlaySegment)flow.Render("ht", IvrPromptKeys.Goodbye, null, "http://localhost/ivr-audio").Segments[0]).Url);

        using var response = await client.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("audio/wav", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(await File.ReadAllBytesAsync(flows.Full("audio/ht/goodbye.wav")), bytes);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Contains("max-age", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        Assert.NotNull(response.Headers.ETag);
    }

    [Theory]
    [InlineData("../hotline.yaml")]
    [InlineData("ht/../../hotline.yaml")]
    [InlineData("ht/../../prompts/ht.yaml")]
    [InlineData("ht\\..\\..\\hotline.yaml")]
    [InlineData("/etc/passwd")]
    [InlineData("ht/PLACEHOLDER.md")]
    [InlineData("ht/nothing.wav")]
    public void Only_the_recordings_the_flow_plays_are_found(string path)
    {
        // The HTTP stack already normalises most of these away; this is the endpoint's own defence.
        var flow = IvrFlowLoader.Load(flows.Path);

        Assert.Null(flow.FindAudioFile(path));
        Assert.Equal(flows.Full("audio/ht/digits/7.wav"), flow.FindAudioFile("ht/digits/7.wav"));
    }

    [Theory]
    [InlineData("/ivr-audio/ht/nothing.wav")]
    [InlineData("/ivr-audio/ht/PLACEHOLDER.md")]
    [InlineData("/ivr-audio/../hotline.yaml")]
    [InlineData("/ivr-audio/..%2Fhotline.yaml")]
    [InlineData("/ivr-audio/%2E%2E/%2E%2E/ivr-flows/hotline.yaml")]
    [InlineData("/ivr-audio/ht/..%2F..%2Fprompts/ht.yaml")]
    [InlineData("/ivr-audio/ht%2Fgoodbye.wav%2F..%2F..%2F..%2Fhotline.yaml")]
    [InlineData("/ivr-audio//etc/passwd")]
    public async Task The_audio_endpoint_serves_nothing_else(string path)
    {
        using var factory = new HotlineFactory(AnyDatabase, settings => settings["Ivr:FlowsPath"] = flows.Path);
        using var client = factory.CreateClient();

        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri("http://localhost" + path, UriKind.Absolute)));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("language", body, StringComparison.Ordinal);
    }
}
