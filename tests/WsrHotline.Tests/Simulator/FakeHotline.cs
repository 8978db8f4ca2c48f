using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twilio.TwiML;
using Twilio.Clients;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;
using SystemNetHttpClient = Twilio.Http.SystemNetHttpClient;

namespace WsrHotline.Tests.Simulator;

/// <summary>
/// A tiny TwiML app of the test's own, on a real Kestrel port, hosting the simulator exactly like the
/// hotline does (AddVoiceSimulator/MapVoiceSimulator). Twilio calls it at https://hotline.test (its
/// public name, which the simulator signs) while it listens on 127.0.0.1. Every request under /twilio
/// must carry a valid X-Twilio-Signature, or gets 403.
/// </summary>
public sealed class FakeHotline : IAsyncDisposable
{
    public const string PublicBaseUrl = "https://hotline.test";

    private readonly ConcurrentDictionary<string, Func<IFormCollection, Task<VoiceResponse>>> routes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Path, Dictionary<string, string> Form)> requests = new();
    private int invalidSignatures;
    private WebApplication app = null!;

    public VoiceSimulator Simulator { get; private set; } = null!;

    /// <summary>The SDK's REST client, sent to the simulator's Twilio stand-in as the app's is (<see cref="TwilioApiBaseHandler"/>).</summary>
    public TwilioRestClient Rest { get; private set; } = null!;

    public Uri ListeningAddress { get; private set; } = null!;

    public int InvalidSignatures => Volatile.Read(ref invalidSignatures);

    /// <param name="adjust">Changes the app's settings, e.g. <c>s => s["Simulator:FallbackUrl"] = "/twilio/voice/fallback"</c>.</param>
    public static async Task<FakeHotline> StartAsync(Action<Dictionary<string, string?>>? adjust = null)
    {
        var hotline = new FakeHotline();
        await hotline.StartServerAsync(adjust);
        return hotline;
    }

    /// <summary>Answers POSTs to <paramref name="path"/> with TwiML.</summary>
    public void On(string path, Func<IFormCollection, VoiceResponse> twiml) => routes[path] = form => Task.FromResult(twiml(form));

    public void On(string path, Func<IFormCollection, Task<VoiceResponse>> twiml) => routes[path] = twiml;

    /// <summary>The form of every request to <paramref name="path"/>, in order.</summary>
    public IReadOnlyList<Dictionary<string, string>> Requests(string path) =>
        [.. requests.Where(r => r.Path == path).Select(r => r.Form)];

    public IReadOnlyList<string> Paths => [.. requests.Select(r => r.Path)];

    public static Uri Public(string path) => new(PublicBaseUrl + path);

    private async Task StartServerAsync(Action<Dictionary<string, string?>>? adjust)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = SimulatorExtensions.TestingEnvironment });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var settings = new Dictionary<string, string?>
        {
            ["Twilio:AccountSid"] = TestKeys.TwilioAccountSid,
            ["Twilio:AuthToken"] = TestKeys.TwilioAuthToken,
            ["Twilio:PublicBaseUrl"] = PublicBaseUrl,
            ["Simulator:Enabled"] = "true",
        };
        adjust?.Invoke(settings);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddTwilioClient(builder.Configuration).AddVoiceSimulator(builder.Environment);

        app = builder.Build();
        app.Map("/twilio/{**rest}", async (HttpContext context) =>
        {
            var request = context.Request;
            var form = request.HasFormContentType ? await request.ReadFormAsync() : new FormCollection([]);
            var url = PublicBaseUrl + request.Path + request.QueryString;
            if (!TwilioRequestValidation.IsSigned(TestKeys.TwilioAuthToken, url, form, request.Headers[TwilioRequestSigner.SignatureHeader]))
            {
                Interlocked.Increment(ref invalidSignatures);
                return Results.StatusCode(StatusCodes.Status403Forbidden);
            }

            var path = request.Path.Value!;
            requests.Enqueue((path, form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal)));
            if (routes.TryGetValue(path, out var route))
            {
                return Results.Extensions.TwiML(await route(form));
            }

            // Status callbacks need no TwiML; anything else unknown is a test mistake, shown as a 404.
            return path.EndsWith("status", StringComparison.Ordinal) ? Results.NoContent() : Results.NotFound();
        });
        // Prompt audio, as the IVR will serve its recorded Haitian Creole prompts: 3 s of WAV.
        app.MapGet("/audio/{name}", (string name) => name == "ht-welcome.wav"
            ? Results.File(ThreeSecondWav(), "audio/wav")
            : Results.NotFound());
        app.MapVoiceSimulator();
        await app.StartAsync();

        ListeningAddress = new Uri(app.Urls.First());
        Simulator = app.Services.GetRequiredService<VoiceSimulator>();
        var toStandIn = new TwilioApiBaseHandler(Options.Create(new TwilioOptions { ApiBaseUrl = new Uri(ListeningAddress, "/simulator/twilio").AbsoluteUri }))
        {
            InnerHandler = new SocketsHttpHandler(),
        };
        Rest = new TwilioRestClient(TestKeys.TwilioAccountSid, TestKeys.TwilioAuthToken, httpClient: new SystemNetHttpClient(new HttpClient(toStandIn)));
    }

    private static byte[] ThreeSecondWav()
    {
        const int rate = 8000, bytes = rate * 2 * 3;
        var wav = new byte[44 + bytes];
        "RIFF"u8.CopyTo(wav);
        BitConverter.GetBytes(36 + bytes).CopyTo(wav, 4);
        "WAVEfmt "u8.CopyTo(wav.AsSpan(8));
        BitConverter.GetBytes(16).CopyTo(wav, 16);
        BitConverter.GetBytes((short)1).CopyTo(wav, 20);
        BitConverter.GetBytes((short)1).CopyTo(wav, 22);
        BitConverter.GetBytes(rate).CopyTo(wav, 24);
        BitConverter.GetBytes(rate * 2).CopyTo(wav, 28);
        BitConverter.GetBytes((short)2).CopyTo(wav, 32);
        BitConverter.GetBytes((short)16).CopyTo(wav, 34);
        "data"u8.CopyTo(wav.AsSpan(36));
        BitConverter.GetBytes(bytes).CopyTo(wav, 40);
        return wav;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
