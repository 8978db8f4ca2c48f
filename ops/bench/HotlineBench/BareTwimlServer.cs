using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// The baseline: the same framework and TwiML writer answering a fixed document, with no signature
/// check and no database. What the hotline adds on top of it is what the benchmark shows.
/// </summary>
public static class BareTwimlServer
{
    public static async Task<int> RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var twiml = new VoiceResponse().Say("Gracias por llamar.", voice: "Polly.Lupe", language: "es-US").Hangup();
        app.MapPost("/twiml", async (HttpRequest request) =>
        {
            await request.ReadFormAsync();
            return new TwimlResult(twiml);
        });
        await app.RunAsync();
        return 0;
    }
}
