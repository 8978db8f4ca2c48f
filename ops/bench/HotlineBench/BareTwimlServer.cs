using Twilio.TwiML;
using WsrHotline.Twilio;

namespace HotlineBench;

/// <summary>
/// The baseline: a bare TwiML endpoint on the same stack as the hotline — full ASP.NET Core host,
/// Twilio's signature checked by the same filter — answering a fixed document with no database and
/// no IVR. What the hotline costs on top of it is what the benchmark shows.
/// </summary>
public static class BareTwimlServer
{
    public static async Task<int> RunAsync(int port, string token)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Configuration["Twilio:AccountSid"] = "AC00000000000000000000000000000000";
        builder.Configuration["Twilio:AuthToken"] = token;
        builder.Services.AddTwilioClient(builder.Configuration);
        var app = builder.Build();
        var twiml = new VoiceResponse().Say("Gracias por llamar.", voice: "Polly.Lupe", language: "es-US").Hangup();
        app.MapPost("/twiml", () => new TwiMLResult(twiml)).ValidateTwilioRequest();
        await app.RunAsync();
        return 0;
    }
}
