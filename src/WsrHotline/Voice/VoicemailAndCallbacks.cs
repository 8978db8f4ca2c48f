using Microsoft.Extensions.Options;
using WsrHotline.Jobs;

namespace WsrHotline.Voice;

/// <summary>
/// What follows a voicemail or an abandoned call: the recording's copy out of Twilio
/// (<see cref="VoicemailCopies"/>), its playback (<see cref="RecordingStore"/>) and calling the worker
/// back (<see cref="CallingBack"/>; its TwiML and status callbacks are mapped with the other voice webhooks in
/// <see cref="VoiceEndpoints"/>).
/// </summary>
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
        services.AddSingleton<CallingBack>();
        // With the forgotten work: a voicemail copy whose job was lost gets one again, and a callback
        // whose last status callback was lost is settled with Twilio.
        services.AddRecurringJob(RecurringJobs.ForgottenWorkId, _ => RecurringJobs.ForgottenWorkInterval, async (p, ct) =>
        {
            await p.GetRequiredService<VoicemailCopies>().EnqueueForgottenAsync(ct);
            await p.GetRequiredService<CallingBack>().SettleLostAttemptsAsync(ct);
        });
        return services;
    }
}
