using Microsoft.Extensions.Options;
using WsrHotline.Hosting;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Twilio.TwiML;
using Twilio.Types;
using Dial = Twilio.TwiML.Voice.Dial;
using Gather = Twilio.TwiML.Voice.Gather;

namespace WsrHotline.Voice;

/// <summary>
/// What a caller gets when the database cannot answer: no menu, no lookups — every hotline language
/// greets them, the emergency on-call numbers ring together, and if nobody answers they leave a
/// voicemail. It needs nothing but the flow in memory and configuration, so it answers at once.
/// The same document, with absolute URLs, is the static Fallback URL document in ops/.
/// </summary>
public sealed class EmergencyTwiml(IOptions<HotlineOptions> hotline, IOptions<IvrOptions> ivr)
{
    public VoiceResponse Start(IvrFlow flow, Func<string, Uri> url, string audioBase)
    {
        var response = new VoiceResponse();
        foreach (var language in flow.Languages)
        {
            response.AddPrompt(flow.Render(language.Code, "emergency_greeting", null, audioBase));
        }
        var dial = new Dial(timeout: ivr.Value.RingSecondsPerTier, action: url("emergency/dial-result"), answerOnBridge: true);
        foreach (var number in hotline.Value.EmergencyOnCallNumbers)
        {
            dial.Number(new PhoneNumber(number), url: url("emergency/screen"));
        }
        return hotline.Value.EmergencyOnCallNumbers.Count > 0
            ? response.Append(dial)
            : Voicemail(response, flow, url, audioBase);
    }

    /// <summary>
    /// The document for Twilio's Fallback URL, served statically while the app itself is down: it
    /// cannot count on any action URL of ours, so the Dial has no action and no screening, and falls
    /// through to the voicemail (which a caller who already talked to someone can simply hang up on).
    /// Recordings still reach the app when it is back, or stay in Twilio's account to be fetched.
    /// </summary>
    public VoiceResponse StaticFallback(IvrFlow flow, string publicBaseUrl, string audioBase)
    {
        var response = new VoiceResponse();
        foreach (var language in flow.Languages)
        {
            response.AddPrompt(flow.Render(language.Code, "emergency_greeting", null, audioBase));
        }
        if (hotline.Value.EmergencyOnCallNumbers.Count > 0)
        {
            var dial = new Dial(timeout: ivr.Value.RingSecondsPerTier, answerOnBridge: true);
            foreach (var number in hotline.Value.EmergencyOnCallNumbers)
            {
                dial.Number(new PhoneNumber(number));
            }
            response.Append(dial);
        }
        var app = publicBaseUrl.TrimEnd('/') + VoiceUrls.Prefix + "/";
        return Voicemail(response, flow, path => new Uri(app + path, UriKind.Absolute), audioBase);
    }

    /// <summary>Said to whoever picks up an emergency line: the caller's language is not known yet.</summary>
    public static VoiceResponse Screen(IvrFlow flow, Func<string, Uri> url, string audioBase)
    {
        var languages = string.Join(", ", flow.Languages.Select(l => l.NativeName));
        var gather = new Gather(numDigits: 1, timeout: 8, action: url("emergency/screen-result"));
        gather.AddPrompt(flow.Render(flow.DefaultLanguage.Code, "screening", new Dictionary<string, string> { ["language"] = languages }, audioBase));
        return new VoiceResponse().Append(gather).Hangup();
    }

    public static VoiceResponse Voicemail(VoiceResponse response, IvrFlow flow, Func<string, Uri> url, string audioBase)
    {
        foreach (var language in flow.Languages)
        {
            response.AddPrompt(flow.Render(language.Code, "emergency_voicemail", null, audioBase));
        }
        return response
            .Record(
                maxLength: 180,
                timeout: 8,
                finishOnKey: "#",
                playBeep: true,
                action: url("emergency/recorded"),
                recordingStatusCallback: url("recording"))
            .Hangup();
    }

    public static VoiceResponse Goodbye(IvrFlow flow, string audioBase)
    {
        var response = new VoiceResponse();
        foreach (var language in flow.Languages)
        {
            response.AddPrompt(flow.Render(language.Code, "callback_promise", null, audioBase));
        }
        return response.Hangup();
    }
}
