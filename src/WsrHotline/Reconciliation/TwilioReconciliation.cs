using Dapper;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Npgsql;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Messaging;
using WsrHotline.Pii;
using WsrHotline.Twilio;
using WsrHotline.Voice;
using MediaResource = Twilio.Rest.Api.V2010.Account.Message.MediaResource;
using ReadMediaOptions = Twilio.Rest.Api.V2010.Account.Message.ReadMediaOptions;

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
/// The logic lives here; the recurring job (registered in <see cref="ReconciliationExtensions"/>) and <see cref="OutageWatcher"/> only call it.
/// <para>
/// The lists come from the SDK's <c>ReadAsync</c>, whose result fetches each further page
/// (<c>next_page_uri</c>) while it is enumerated, synchronously: a thread waits for each page, which
/// for this occasional job (pages of 1,000) is a fair price for the SDK's own paging. A failed page is
/// retried like any Twilio GET (<see cref="TwilioRetries"/>), and a run that still fails is recorded and rethrown.
/// </para>
/// </summary>
public sealed partial class TwilioReconciliation(
    NpgsqlDataSource dataSource,
    ITwilioRestClient twilio,
    Inbox inbox,
    PiiProtector pii,
    IServiceProvider services,
    IvrFlowProvider flows,
    IOptions<HotlineOptions> hotline,
    IOptions<TwilioOptions> twilioOptions,
    IOptions<ReconciliationOptions> options,
    TimeProvider time,
    ILogger<TwilioReconciliation> logger)
{
    /// <summary>Items a list page holds (Twilio's largest).</summary>
    private const int PageSize = 1000;

    /// <summary>Items one list reads at most (a thousand pages): a bound, not a figure ever expected.</summary>
    private const int MaxListed = 1_000_000;

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
                new { runId, error = ex is TwilioException ? TwilioFailures.Describe(ex) : ex.GetType().Name },
                cancellationToken: CancellationToken.None));
            throw;
        }
    }

    /// <summary>Inbound texts to each hotline number; the ones neither in <c>messages</c> nor waiting in the inbox are kept in the inbox, oldest first.</summary>
    private async Task<(int Listed, int TakenIn)> ReconcileMessagesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var listed = new Dictionary<string, MessageResource>(StringComparer.Ordinal);
        foreach (var number in HotlineNumbers.All(hotline.Value))
        {
            var messages = await MessageResource.ReadAsync(new ReadMessageOptions
            {
                To = new PhoneNumber(number),
                DateSentAfter = WholeSecond(from, roundUp: false),
                DateSentBefore = WholeSecond(to, roundUp: true),
                PageSize = PageSize,
                Limit = MaxListed,
            }, twilio);
            foreach (var message in messages)
            {
                // Only texts workers sent to the hotline: not its own replies, not another number's traffic.
                if (!string.IsNullOrEmpty(message.Sid) && message.Direction == MessageResource.DirectionEnum.Inbound
                    && HotlineNumbers.Classify(message.To, hotline.Value).Configured)
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
        foreach (var message in listed.Values.Where(m => !known.Contains(m.Sid)).OrderBy(m => Utc(m.DateSent ?? m.DateCreated) ?? DateTimeOffset.MaxValue))
        {
            if (CallerNumber.Normalize(message.From?.ToString() ?? "") is not { } sender)
            {
                LogWithheldSender(logger, message.Sid);
                continue;
            }

            var (channel, _) = HotlineNumbers.Classify(message.To, hotline.Value);
            var numMedia = int.TryParse(message.NumMedia, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
            var media = numMedia > 0 ? await MediaOfAsync(message.Sid) : [];
            var kept = await inbox.KeepAsync(
                new InboundMessage(message.Sid, channel, sender, message.Body ?? "", numMedia, media) { To = message.To }, cancellationToken);
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
        var recordings = await RecordingResource.ReadAsync(new ReadRecordingOptions
        {
            DateCreatedAfter = WholeSecond(from, roundUp: false),
            DateCreatedBefore = WholeSecond(to, roundUp: true),
            PageSize = PageSize,
            Limit = MaxListed,
        }, twilio);
        List<RecordingResource> listed = [.. recordings
            .Where(r => !string.IsNullOrEmpty(r.Sid) && !string.IsNullOrEmpty(r.CallSid))
            .OrderBy(r => Utc(r.DateCreated) ?? DateTimeOffset.MaxValue)];
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
                DurationSeconds = Seconds(recording.Duration),
                DateCreated = Utc(recording.DateCreated),
                url = AudioUrl(recording) is { } mediaUrl ? pii.Encrypt(mediaUrl.AbsoluteUri, PiiPurpose.RecordingUrl) : null,
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
    private async Task TakeInRecordingAsync(RecordingResource recording, CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, StringValues>(StringComparer.Ordinal)
        {
            ["AccountSid"] = "",
            ["CallSid"] = recording.CallSid,
            ["RecordingSid"] = recording.Sid,
            ["RecordingUrl"] = AudioUrl(recording)?.AbsoluteUri ?? "",
            ["RecordingStatus"] = "completed",
            ["RecordingDuration"] = Seconds(recording.Duration)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
        };
        var http = new DefaultHttpContext { RequestServices = services, RequestAborted = cancellationToken };
        http.Request.Path = VoiceUrls.Prefix + "/recording";
        var form = new FormCollection(fields);
        http.Features.Set<IFormFeature>(new FormFeature(form));
        await services.GetRequiredService<VoiceFlow>().RecordingAsync(new VoiceRequest(http.Request, new VoiceForm(form), flows.Current));
    }

    /// <summary>A message's attachments, each with the URL its file is downloaded from (at most <see cref="MessagingEndpoints.MaxMediaPerMessage"/>).</summary>
    private async Task<List<InboundMedia>> MediaOfAsync(string messageSid)
    {
        var media = await MediaResource.ReadAsync(new ReadMediaOptions(messageSid) { PageSize = MessagingEndpoints.MaxMediaPerMessage, Limit = MessagingEndpoints.MaxMediaPerMessage }, twilio);
        return [.. media
            .Select(m => (File: FileUrl(m.Uri), m.ContentType))
            .Where(m => m.File is not null)
            .Select(m => new InboundMedia(m.File!.AbsoluteUri, m.ContentType ?? ""))];
    }

    /// <summary>Where a recording's audio is: Twilio's <c>media_url</c>, else the resource's own file.</summary>
    private Uri? AudioUrl(RecordingResource recording) =>
        recording.MediaUrl is { IsAbsoluteUri: true } mediaUrl ? mediaUrl : FileUrl(recording.Uri);

    /// <summary>
    /// A resource's file from its root-relative <c>uri</c> (<c>/2010-04-01/…/Media/ME….json</c>): that
    /// path without <c>.json</c>, under <see cref="TwilioOptions.ApiBaseUrl"/>, so the simulator's
    /// stand-in serves it in the local run as Twilio does (the media download is not the SDK's, so it
    /// is not sent there by <see cref="TwilioApiBaseHandler"/>).
    /// </summary>
    private Uri? FileUrl(string? uri)
    {
        if (string.IsNullOrEmpty(uri) || !uri.StartsWith("/2010-04-01/", StringComparison.Ordinal))
        {
            return null;
        }

        var path = uri.Split('?')[0].TrimStart('/');
        path = path.EndsWith(".json", StringComparison.Ordinal) ? path[..^".json".Length] : path;
        return new Uri(new Uri(twilioOptions.Value.ApiBaseUrl.TrimEnd('/') + "/"), path);
    }

    /// <summary>A window's bound to the second, as Twilio takes it; an upper bound is rounded up so the window's last fraction of a second is not lost.</summary>
    private static DateTime WholeSecond(DateTimeOffset value, bool roundUp)
    {
        var ticks = value.UtcTicks;
        var seconds = roundUp ? (ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond : ticks / TimeSpan.TicksPerSecond;
        return new DateTime(seconds * TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }

    /// <summary>The SDK's dates are local or UTC <see cref="DateTime"/>s; one without a kind is taken as UTC.</summary>
    private static DateTimeOffset? Utc(DateTime? value) => value switch
    {
        null => null,
        { Kind: DateTimeKind.Unspecified } unspecified => new DateTimeOffset(unspecified, TimeSpan.Zero),
        { } known => new DateTimeOffset(known.ToUniversalTime(), TimeSpan.Zero),
    };

    private static int? Seconds(string? duration) =>
        int.TryParse(duration, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : null;

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
