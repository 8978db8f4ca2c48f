using Microsoft.Extensions.Options;
using Twilio.Jwt.AccessToken;
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
/// Twilio access tokens for the console's Voice SDK, written by Twilio's library: signed with the API
/// key secret, a voice grant with incoming calls allowed and outgoing calls through the TwiML app.
/// </summary>
public sealed class VoiceTokens(IOptions<VoiceSdkOptions> options, IOptions<TwilioOptions> twilio, TimeProvider time)
{
    public bool Configured => options.Value.Configured;

    public string Create(string identity)
    {
        var sdk = options.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var grant = new VoiceGrant { IncomingAllow = true, OutgoingApplicationSid = sdk.TwimlAppSid };
        return new Token(
            twilio.Value.AccountSid,
            sdk.ApiKeySid,
            sdk.ApiKeySecret,
            identity: identity,
            expiration: now + sdk.TokenLifetime,
            nbf: now,
            grants: [grant]).ToJwt();
    }
}
