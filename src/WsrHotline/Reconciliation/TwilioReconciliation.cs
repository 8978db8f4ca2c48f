using Dapper;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Npgsql;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Messaging;
using WsrHotline.Pii;
using WsrHotline.Twilio;
using WsrHotline.Voice;

namespace WsrHotline.Reconciliation;

/// <summary>What one reconciliation run found and did.</summary>
public sealed record ReconciliationResult(
    long RunId, DateTimeOffset From, DateTimeOffset To, int MessagesListed, int MessagesTakenIn, int RecordingsListed,
    int RecordingsTakenIn, int RecordingsFlagged);

/// <summary>
/// Takes in what Twilio has and the hotline never stored: after an outage, and daily, it lists the
/// inbound texts to every hotline number and the recordings of the window from Twilio's REST API.
/// A text goes through the inbox, as its webhook would have (keyed by MessageSid, so one already
/// stored or waiting is left alone). A recording on a call the hotline has, with no recording yet,
/// goes through the voice webhook's own recording step (voicemail stored, case, callback owed); one on
/// a call the hotline never saw, or on a call that already has another, is flagged for an admin
/// (<c>unmatched_recordings</c>): with no caller and no language, guessing it into a case would be worse.
/// The logic lives here; the recurring job (<c>Jobs/RecurringJobs.cs</c>) and <see cref="OutageWatcher"/> only call it.
/// </summary>
public sealed partial class TwilioReconciliation(
    NpgsqlDataSource dataSource,
    TwilioRestClient twilio,
    Inbox inbox,
    PiiProtector pii,
    IServiceProvider services,
    IvrFlowProvider flows,
    IOptions<HotlineOptions> hotline,
    IOptions<ReconciliationOptions> options,
    TimeProvider time,
    ILogger<TwilioReconciliation> logger)
{
    /// <summary>The daily run: the last <see cref="ReconciliationOptions.DailyWindow"/> (two days: each day is covered twice).</summary>
    public Task<ReconciliationResult> RunDailyAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return RunAsync("daily", now - options.Value.DailyWindow, now, cancellationToken);
    }

    /// <summary>After an outage that began at <paramref name="downSince"/>: from a little before it (<see cref="ReconciliationOptions.OutageOverlap"/>) until now.</summary>
    public Task<ReconciliationResult> RunAfterOutageAsync(DateTimeOffset downSince, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var from = downSince - options.Value.OutageOverlap;
        return RunAsync("outage", from < now - options.Value.DailyWindow ? now - options.Value.DailyWindow : from, now, cancellationToken);
    }

    /// <summary>One run over a window; recorded in <c>twilio_reconciliations</c> (with the error type if it fails, which it then rethrows).</summary>
    public async Task<ReconciliationResult> RunAsync(string reason, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        long runId;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            runId = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
                INSERT INTO twilio_reconciliations (reason, window_from, window_to) VALUES (@reason, @from, @to) RETURNING id
                """, new { reason, from, to }, cancellationToken: cancellationToken));
        }

        try
        {
            var (messagesListed, messagesTakenIn) = await ReconcileMessagesAsync(from, to, cancellationToken);
            var (recordingsListed, recordingsTakenIn, recordingsFlagged) = await ReconcileRecordingsAsync(from, to, cancellationToken);
            var result = new ReconciliationResult(runId, from, to, messagesListed, messagesTakenIn, recordingsListed, recordingsTakenIn, recordingsFlagged);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE twilio_reconciliations
                SET finished_at = now(), messages_listed = @MessagesListed, messages_taken_in = @MessagesTakenIn,
                    recordings_listed = @RecordingsListed, recordings_taken_in = @RecordingsTakenIn, recordings_flagged = @RecordingsFlagged
                WHERE id = @RunId
                """, result, cancellationToken: cancellationToken));
            LogRun(logger, runId, reason, messagesListed, messagesTakenIn, recordingsListed, recordingsTakenIn, recordingsFlagged);
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRunFailed(logger, runId, reason, ex.GetType().Name);
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE twilio_reconciliations SET finished_at = now(), error = @error WHERE id = @runId",
                new { runId, error = ex is TwilioApiException api ? $"twilio: HTTP {api.HttpStatus}, error {api.ErrorCode}" : ex.GetType().Name },
                cancellationToken: CancellationToken.None));
            throw;
        }
    }

    /// <summary>Inbound texts to each hotline number; the ones neither in <c>messages</c> nor waiting in the inbox are kept in the inbox, oldest first.</summary>
    private async Task<(int Listed, int TakenIn)> ReconcileMessagesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var listed = new Dictionary<string, ListedMessage>(StringComparer.Ordinal);
        foreach (var number in HotlineNumbers.All(hotline.Value))
        {
            foreach (var message in await twilio.ListMessagesAsync(number, from, to, cancellationToken))
            {
                // Only texts workers sent to the hotline: not its own replies, not another number's traffic.
                if (message.Direction == "inbound" && HotlineNumbers.Classify(message.To, hotline.Value).Configured)
                {
                    listed.TryAdd(message.Sid, message);
                }
            }
        }
        if (listed.Count == 0)
        {
            return (0, 0);
        }

        HashSet<string> known;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            known = [.. await connection.QueryAsync<string>(new CommandDefinition("""
                SELECT message_sid FROM messages WHERE message_sid = ANY(@sids)
                UNION SELECT message_sid FROM inbound_inbox WHERE message_sid = ANY(@sids)
                """, new { sids = listed.Keys.ToArray() }, cancellationToken: cancellationToken))];
        }

        var takenIn = 0;
        foreach (var message in listed.Values.Where(m => !known.Contains(m.Sid)).OrderBy(m => m.DateSent ?? DateTimeOffset.MaxValue))
        {
            if (CallerNumber.Normalize(message.From) is not { } sender)
            {
                LogWithheldSender(logger, message.Sid);
                continue;
            }

            var (channel, _) = HotlineNumbers.Classify(message.To, hotline.Value);
            var media = message.NumMedia > 0
                ? [.. (await twilio.ListMessageMediaAsync(message.Sid, cancellationToken)).Take(MessagingEndpoints.MaxMediaPerMessage)
                    .Select(m => new InboundMedia(m.Url.AbsoluteUri, m.ContentType))]
                : new List<InboundMedia>();
            var kept = await inbox.KeepAsync(
                new InboundMessage(message.Sid, channel, sender, message.Body, message.NumMedia, media) { To = message.To }, cancellationToken);
            if (kept)
            {
                takenIn++;
                LogMessageTakenIn(logger, message.Sid, channel);
            }
        }
        return (listed.Count, takenIn);
    }

    private sealed record KnownCall(long Id, string? RecordingSid);

    private async Task<(int Listed, int TakenIn, int Flagged)> ReconcileRecordingsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var listed = await twilio.ListRecordingsAsync(from, to, cancellationToken);
        if (listed.Count == 0)
        {
            return (0, 0, 0);
        }

        HashSet<string> known;
        Dictionary<string, KnownCall> calls;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            known = [.. await connection.QueryAsync<string>(new CommandDefinition("""
                SELECT recording_sid FROM calls WHERE recording_sid = ANY(@sids)
                UNION SELECT recording_sid FROM unmatched_recordings WHERE recording_sid = ANY(@sids)
                """, new { sids = listed.Select(r => r.Sid).ToArray() }, cancellationToken: cancellationToken))];
            calls = (await connection.QueryAsync<(string CallSid, long Id, string? RecordingSid)>(new CommandDefinition(
                    "SELECT call_sid, id, recording_sid FROM calls WHERE call_sid = ANY(@callSids)",
                    new { callSids = listed.Select(r => r.CallSid).Distinct().ToArray() }, cancellationToken: cancellationToken)))
                .ToDictionary(row => row.CallSid, row => new KnownCall(row.Id, row.RecordingSid), StringComparer.Ordinal);
        }

        int takenIn = 0, flagged = 0;
        foreach (var recording in listed.Where(r => !known.Contains(r.Sid)))
        {
            if (calls.TryGetValue(recording.CallSid, out var call) && call.RecordingSid is null)
            {
                await TakeInRecordingAsync(recording, cancellationToken);
                calls[recording.CallSid] = call with { RecordingSid = recording.Sid };
                takenIn++;
                LogRecordingTakenIn(logger, recording.Sid, recording.CallSid);
                continue;
            }

            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var inserted = await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO unmatched_recordings (recording_sid, call_sid, call_known, duration_seconds, recorded_at, url_encrypted)
                VALUES (@Sid, @CallSid, @callKnown, @DurationSeconds, @DateCreated, @url)
                ON CONFLICT (recording_sid) DO NOTHING
                """, new
            {
                recording.Sid,
                recording.CallSid,
                callKnown = call is not null,
                recording.DurationSeconds,
                recording.DateCreated,
                url = recording.MediaUrl is { } mediaUrl ? pii.Encrypt(mediaUrl.AbsoluteUri, PiiPurpose.RecordingUrl) : null,
            }, cancellationToken: cancellationToken));
            if (inserted > 0)
            {
                flagged++;
                LogRecordingFlagged(logger, recording.Sid, recording.CallSid, call is not null);
            }
        }
        return (listed.Count, takenIn, flagged);
    }

    /// <summary>The recording status callback Twilio would have sent, through the voice webhook's own step.</summary>
    private async Task TakeInRecordingAsync(ListedRecording recording, CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, StringValues>(StringComparer.Ordinal)
        {
            ["AccountSid"] = "",
            ["CallSid"] = recording.CallSid,
            ["RecordingSid"] = recording.Sid,
            ["RecordingUrl"] = recording.MediaUrl?.AbsoluteUri ?? "",
            ["RecordingStatus"] = "completed",
            ["RecordingDuration"] = recording.DurationSeconds?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
        };
        var http = new DefaultHttpContext { RequestServices = services, RequestAborted = cancellationToken };
        http.Request.Path = VoiceUrls.Prefix + "/recording";
        var form = new FormCollection(fields);
        http.Features.Set<IFormFeature>(new FormFeature(form));
        await services.GetRequiredService<VoiceFlow>().RecordingAsync(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information,
        Message = "Reconciliation {RunId} ({Reason}): {MessagesListed} inbound text(s) listed, {MessagesTakenIn} taken in; {RecordingsListed} recording(s) listed, {RecordingsTakenIn} taken in, {RecordingsFlagged} flagged for an admin")]
    private static partial void LogRun(ILogger logger, long runId, string reason, int messagesListed, int messagesTakenIn, int recordingsListed, int recordingsTakenIn, int recordingsFlagged);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Error, Message = "Reconciliation {RunId} ({Reason}) failed ({Error})")]
    private static partial void LogRunFailed(ILogger logger, long runId, string reason, string error);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Reconciliation: text {MessageSid} on {Channel} never reached the hotline; taken in now")]
    private static partial void LogMessageTakenIn(ILogger logger, string messageSid, string channel);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Reconciliation: recording {RecordingSid} of call {CallSid} never reached the hotline; stored as the call's voicemail")]
    private static partial void LogRecordingTakenIn(ILogger logger, string recordingSid, string callSid);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Error, Message = "Reconciliation: recording {RecordingSid} of call {CallSid} (call known: {CallKnown}) matches no voicemail; flagged for an admin (unmatched_recordings)")]
    private static partial void LogRecordingFlagged(ILogger logger, string recordingSid, string callSid, bool callKnown);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Warning, Message = "Reconciliation: text {MessageSid} has a withheld or invalid sender; not taken in")]
    private static partial void LogWithheldSender(ILogger logger, string messageSid);
}
