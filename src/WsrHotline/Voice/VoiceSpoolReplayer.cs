using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Ivr;

namespace WsrHotline.Voice;

/// <summary>
/// Stores what the spool kept during a database outage, oldest first, through the same code as live
/// webhooks (which are idempotent by CallSid, so a replay after a partial success changes nothing).
/// </summary>
public sealed partial class VoiceSpoolReplayer(
    VoiceSpool spool,
    StartupState startup,
    IServiceProvider services,
    IvrFlowProvider flows,
    ILogger<VoiceSpoolReplayer> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            if (startup.Migrated)
            {
                await ReplayPendingAsync(stoppingToken);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Replays every kept webhook; stops at the first database failure (try again next round).</summary>
    public async Task<int> ReplayPendingAsync(CancellationToken cancellationToken)
    {
        var replayed = 0;
        foreach (var file in spool.Pending())
        {
            try
            {
                var webhook = spool.Read(file);
                await ReplayAsync(webhook, cancellationToken);
                File.Delete(file);
                replayed++;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                LogStillDown(logger, ex.GetType().Name);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not the database: this file cannot be replayed. Keep it aside, loudly; never delete it.
                File.Move(file, file + ".failed", overwrite: true);
                LogUnreplayable(logger, Path.GetFileName(file), ex);
            }
        }
        if (replayed > 0)
        {
            LogReplayed(logger, replayed);
        }
        return replayed;
    }

    private async Task ReplayAsync(SpooledWebhook webhook, CancellationToken cancellationToken)
    {
        var http = new DefaultHttpContext { RequestServices = services, RequestAborted = cancellationToken };
        http.Request.Path = webhook.Path;
        http.Request.QueryString = new QueryString(webhook.Query);
        var form = new FormCollection(webhook.Fields.ToDictionary(field => field.Key, field => new StringValues(field.Value)));
        http.Features.Set<IFormFeature>(new FormFeature(form));
        var request = new VoiceRequest(http.Request, new VoiceForm(form), flows.Current);
        var voice = services.GetRequiredService<VoiceFlow>();

        var path = webhook.Path.StartsWith(VoiceUrls.Prefix, StringComparison.Ordinal) ? webhook.Path[(VoiceUrls.Prefix.Length + 1)..] : webhook.Path;
        switch (path)
        {
            case "incoming":
                await voice.IncomingAsync(request);
                break;
            case "status":
                await voice.StatusAsync(request);
                break;
            case "recording":
                await voice.RecordingAsync(request);
                break;
            case "leg-status":
                await voice.LegStatusAsync(request);
                break;
            case "emergency/dial-result":
                await voice.ReplayEmergencyDialResultAsync(request);
                break;
            case "emergency/recorded" or "recorded":
                await voice.ReplayEmergencyVoicemailAsync(request);
                break;
            default:
                // A menu step: nothing durable to store, the call has moved on.
                break;
        }
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Stored {Count} webhook(s) kept during a database outage")]
    private static partial void LogReplayed(ILogger logger, int count);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Database still unavailable for the voice spool ({Error}); retrying")]
    private static partial void LogStillDown(ILogger logger, string error);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "Spool file {File} could not be replayed; kept as .failed")]
    private static partial void LogUnreplayable(ILogger logger, string file, Exception exception);
}
