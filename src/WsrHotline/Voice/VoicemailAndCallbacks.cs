using Microsoft.Extensions.Options;
using WsrHotline.Jobs;

namespace WsrHotline.Voice;

/// <summary>What follows a voicemail: its copy out of Twilio (<see cref="VoicemailCopies"/>) and its playback (<see cref="RecordingStore"/>).</summary>
public static class VoicemailAndCallbacks
{
    public static IServiceCollection AddVoicemailAndCallbacks(this IServiceCollection services)
    {
        services.AddSingleton<VoicemailCopies>();
        services.AddJobRetry<VoicemailCopies>(provider =>
        {
            var o = provider.GetRequiredService<IOptions<VoiceOptions>>().Value;
            return JobRetries.Exponential(o.RecordingCopyMaxAttempts, o.RecordingCopyRetryBaseDelay);
        });
        services.AddSingleton<RecordingStore>();
        return services;
    }
}
