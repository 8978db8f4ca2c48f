using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using WsrHotline.Twilio;

namespace WsrHotline.LiveConsole;

/// <summary>
/// Twilio Voice SDK access for the console (section <c>VoiceSdk</c>). With an API key and a TwiML
/// app, a browser can receive the calls it accepted; without them (and no simulator) calls go to the
/// investigator's phone.
/// </summary>
public sealed class VoiceSdkOptions
{
    /// <summary>API key SID (SK…) from the Twilio console.</summary>
    public string? ApiKeySid { get; set; }

    /// <summary>The API key's secret. A secret: environment variable VoiceSdk__ApiKeySecret.</summary>
    public string? ApiKeySecret { get; set; }

    /// <summary>The TwiML app (AP…) whose Voice URL is this hotline's, for outgoing browser calls.</summary>
    public string? TwimlAppSid { get; set; }

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public bool Configured => !string.IsNullOrEmpty(ApiKeySid) && !string.IsNullOrEmpty(ApiKeySecret) && !string.IsNullOrEmpty(TwimlAppSid);
}

/// <summary>
/// Writes Twilio access tokens (a JWT signed HS256 with the API key secret, header
/// <c>cty: twilio-fpa;v=1</c>, a voice grant with incoming calls allowed), as Twilio's documentation
/// describes them.
/// </summary>
public sealed class VoiceTokens(IOptions<VoiceSdkOptions> options, IOptions<TwilioOptions> twilio, TimeProvider time)
{
    public bool Configured => options.Value.Configured;

    public string Create(string identity)
    {
        var sdk = options.Value;
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var header = new Dictionary<string, string> { ["typ"] = "JWT", ["alg"] = "HS256", ["cty"] = "twilio-fpa;v=1" };
        var payload = new Dictionary<string, object>
        {
            ["jti"] = $"{sdk.ApiKeySid}-{now}",
            ["iss"] = sdk.ApiKeySid!,
            ["sub"] = twilio.Value.AccountSid,
            ["iat"] = now,
            ["nbf"] = now,
            ["exp"] = now + (long)sdk.TokenLifetime.TotalSeconds,
            ["grants"] = new Dictionary<string, object>
            {
                ["identity"] = identity,
                ["voice"] = new Dictionary<string, object>
                {
                    ["incoming"] = new Dictionary<string, bool> { ["allow"] = true },
                    ["outgoing"] = new Dictionary<string, string> { ["application_sid"] = sdk.TwimlAppSid! },
                },
            },
        };
        var signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(payload));
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(sdk.ApiKeySecret!), Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
