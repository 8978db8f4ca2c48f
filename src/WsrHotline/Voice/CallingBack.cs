using System.Security.Claims;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.TwiML;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Staff;
using WsrHotline.Twilio;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using CreateCallOptions = Twilio.Rest.Api.V2010.Account.CreateCallOptions;
using Dial = Twilio.TwiML.Voice.Dial;
using PhoneNumber = Twilio.Types.PhoneNumber;
using UpdateCallOptions = Twilio.Rest.Api.V2010.Account.UpdateCallOptions;

namespace WsrHotline.Voice;

/// <summary>What "Call back" got: started, or why not (an HTTP status for the console's answer).</summary>
public sealed record CallbackStart(bool Started, int Status, string Message, long? AttemptId = null);

/// <summary>
/// "Call back" from the console. The hotline calls the investigator first (their browser,
/// <c>client:staff-N</c>, or their phone, per their answer mode) from the hotline's own number; when
/// they answer they enter a conference of the attempt's own (<c>callback-{attemptId}</c>) and the
/// hotline calls the worker, again from its own number (<see cref="Hosting.HotlineOptions.TollFreeNumber"/>),
/// so the investigator's personal number is never shown. The worker hears, in their language, that
/// they are being connected, and joins the conference: the callback is done (its task closed, its
/// clock and first contact met). No answer, busy or failed: the task stays open, the attempt is on
/// the timeline and the investigator is told. Each call has its own status callback (below).
/// </summary>
/// <remarks>
/// A worker "joins" when their call is answered: a voicemail box that answers counts as reached (no
/// machine detection); the investigator can reopen the work by hand if so.
/// </remarks>
public sealed partial class CallingBack(
    NpgsqlDataSource dataSource,
    ITwilioRestClient twilioRest,
    VoiceUrls urls,
    CallerIdentities identities,
    IOptions<Hosting.HotlineOptions> hotline,
    TimeProvider time,
    ILogger<CallingBack> logger)
{
    /// <summary>How long the worker's phone rings before Twilio gives up (no-answer).</summary>
    public const int WorkerRingSeconds = 30;

    public static string ConferenceName(long attemptId) => $"callback-{attemptId}";

    private sealed record TaskRow(long Id, long? ComplaintId, bool Done, string? LanguageCode, string? RestrictedTeam);

    private sealed record AttemptRow(
        long Id, long TaskId, int StaffId, long? ComplaintId, string? LanguageCode, string? StaffCallSid, string? WorkerCallSid,
        DateTime? StaffAnsweredAt, DateTime? WorkerAnsweredAt, DateTime? EndedAt, DateTime StartedAt, long CallerIdentityId);

    /// <summary>
    /// "Call back" pressed: checks, records the attempt, and calls the investigator. An attempt still
    /// open whose calls Twilio says are over (its last status callback never reached us) is closed
    /// first, so a lost webhook cannot block the callback for good.
    /// </summary>
    public async Task<CallbackStart> StartAsync(long taskId, ClaimsPrincipal user, HttpRequest request, CancellationToken cancellationToken)
    {
        var started = await TryStartAsync(taskId, user, request, cancellationToken);
        if (started.Status == StatusCodes.Status409Conflict && started.AttemptId is { } open && await SettleIfOverAsync(open, cancellationToken))
        {
            started = await TryStartAsync(taskId, user, request, cancellationToken);
        }
        return started;
    }

    private async Task<CallbackStart> TryStartAsync(long taskId, ClaimsPrincipal user, HttpRequest request, CancellationToken cancellationToken)
    {
        var staffId = user.StaffId();
        long attemptId;
        string to;
        string answerMode;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var task = await connection.QuerySingleOrDefaultAsync<TaskRow>(new CommandDefinition("""
                SELECT t.id, t.complaint_id, t.done_at IS NOT NULL AS done, coalesce(t.language_code, k.language_code) AS language_code, k.restricted_team
                FROM callback_tasks t LEFT JOIN complaints k ON k.id = t.complaint_id
                WHERE t.id = @taskId
                FOR UPDATE OF t
                """, new { taskId }, transaction, cancellationToken: cancellationToken));
            if (task is null)
            {
                return new CallbackStart(false, StatusCodes.Status404NotFound, $"There is no callback with id {taskId}.");
            }
            if (!LiveConsole.CaseAccess.CanOpen(user, task.RestrictedTeam))
            {
                return new CallbackStart(false, StatusCodes.Status403Forbidden, "This case is restricted to another team.");
            }
            if (task.Done)
            {
                return new CallbackStart(false, StatusCodes.Status409Conflict, "This callback is closed already.");
            }
            var speaks = task.LanguageCode is null || user.SeesEverything() || await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM staff_languages WHERE staff_id = @staffId AND language_code = @LanguageCode)",
                new { staffId, task.LanguageCode }, transaction, cancellationToken: cancellationToken));
            if (!speaks)
            {
                return new CallbackStart(false, StatusCodes.Status403Forbidden, "This worker is called back by an investigator who speaks their language.");
            }
            var staff = await connection.QuerySingleAsync<(string AnswerMode, string? Phone)>(new CommandDefinition("""
                SELECT coalesce(p.answer_mode, 'browser') AS answer_mode, s.phone_e164 AS phone
                FROM staff s LEFT JOIN staff_presence p ON p.staff_id = s.id WHERE s.id = @staffId
                """, new { staffId }, transaction, cancellationToken: cancellationToken));
            answerMode = staff.AnswerMode == "phone" && staff.Phone is not null ? "phone" : "browser";
            to = answerMode == "phone" ? staff.Phone! : "client:" + ConsoleOffers.ClientIdentity(staffId);
            var created = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
                INSERT INTO callback_attempts (callback_task_id, staff_id, answer_mode) VALUES (@taskId, @staffId, @answerMode)
                ON CONFLICT (callback_task_id) WHERE ended_at IS NULL DO NOTHING
                RETURNING id
                """, new { taskId, staffId, answerMode }, transaction, cancellationToken: cancellationToken));
            if (created is not { } id)
            {
                var open = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "SELECT id FROM callback_attempts WHERE callback_task_id = @taskId AND ended_at IS NULL",
                    new { taskId }, transaction, cancellationToken: cancellationToken));
                return new CallbackStart(false, StatusCodes.Status409Conflict, "A call back to this worker is under way already.", open);
            }
            attemptId = id;
            await CallbackTasks.TimelineAsync(connection, transaction, task.ComplaintId, TimelineActor.Staff, staffId, "callback.started",
                new { callback_id = taskId, attempt_id = attemptId, answer_mode = answerMode }, cancellationToken);
            await CallbackTasks.AnnounceAsync(connection, transaction, taskId, task.ComplaintId, task.LanguageCode, "calling", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        try
        {
            var call = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(to), new PhoneNumber(hotline.Value.TollFreeNumber))
            {
                Url = new Uri(urls.For(request, "callback/staff", ("attempt", attemptId))),
                StatusCallback = new Uri(urls.For(request, "callback/staff-status", ("attempt", attemptId))),
                StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                Timeout = 20,
            }, twilioRest);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition("UPDATE callback_attempts SET staff_call_sid = @sid WHERE id = @attemptId",
                new { sid = call.Sid, attemptId }, cancellationToken: cancellationToken));
        }
        catch (TwilioException ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogCallFailed(logger, attemptId, "investigator", TwilioFailures.Describe(ex));
            await EndAsync(attemptId, "failed", "callback.attempt_ended", null, CancellationToken.None);
            return new CallbackStart(false, StatusCodes.Status502BadGateway, "The call could not be placed; the callback stays on the list.", attemptId);
        }
        LogStarted(logger, attemptId, taskId, answerMode);
        return new CallbackStart(true, StatusCodes.Status200OK,
            answerMode == "phone" ? "Your phone is ringing: answer it and the hotline calls the worker." : "Connecting in the browser; then the hotline calls the worker.",
            attemptId);
    }

    /// <summary>POST /twilio/voice/callback/staff?attempt=N: the investigator answered. Into the conference; the worker's phone rings.</summary>
    public async Task<IResult> StaffAnsweredAsync(VoiceRequest request)
    {
        var attemptId = request.QueryNumber("attempt", 0);
        await using var connection = await dataSource.OpenConnectionAsync(request.Cancellation);
        // Only the first answer calls the worker: a retried webhook is put back in the same conference.
        var attempt = await connection.QuerySingleOrDefaultAsync<AttemptRow>(new CommandDefinition($"""
            WITH answered AS (
                UPDATE callback_attempts SET staff_answered_at = now(), staff_call_sid = coalesce(staff_call_sid, @CallSid)
                WHERE id = @attemptId AND staff_answered_at IS NULL AND ended_at IS NULL
                RETURNING id
            )
            {AttemptSelect} WHERE a.id = (SELECT id FROM answered)
            """, new { attemptId, request.Form.CallSid }, cancellationToken: request.Cancellation));
        if (attempt is null)
        {
            var ongoing = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM callback_attempts WHERE id = @attemptId AND ended_at IS NULL AND staff_call_sid = @CallSid)",
                new { attemptId, request.Form.CallSid }, cancellationToken: request.Cancellation));
            return Twiml(ongoing ? Conference(new VoiceResponse(), attemptId) : new VoiceResponse().Say(StaffText.Ended).Hangup());
        }

        try
        {
            var worker = await CallResource.CreateAsync(new CreateCallOptions(
                new PhoneNumber(await identities.RevealNumberAsync(connection, attempt.CallerIdentityId, request.Cancellation)), new PhoneNumber(hotline.Value.TollFreeNumber))
            {
                Url = new Uri(urls.For(request.Http, "callback/worker", ("attempt", attemptId))),
                StatusCallback = new Uri(urls.For(request.Http, "callback/worker-status", ("attempt", attemptId))),
                StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                Timeout = WorkerRingSeconds,
            }, twilioRest);
            await connection.ExecuteAsync(new CommandDefinition("UPDATE callback_attempts SET worker_call_sid = @sid WHERE id = @attemptId",
                new { sid = worker.Sid, attemptId }, cancellationToken: request.Cancellation));
        }
        catch (TwilioException ex) when (!request.Cancellation.IsCancellationRequested)
        {
            LogCallFailed(logger, attemptId, "worker", TwilioFailures.Describe(ex));
            await EndAsync(attemptId, "failed", "callback.unanswered", "failed", CancellationToken.None);
            return Twiml(new VoiceResponse().Say(StaffText.CouldNotCall).Hangup());
        }
        return Twiml(Conference(new VoiceResponse().Say(StaffText.Calling), attemptId));
    }

    /// <summary>
    /// POST /twilio/voice/callback/worker?attempt=N: the worker answered. The callback is done (task
    /// closed, clock and first contact met, in one transaction); they hear, in their language, that
    /// they are being connected, and join the investigator.
    /// </summary>
    public async Task<IResult> WorkerAnsweredAsync(VoiceRequest request)
    {
        var attemptId = request.QueryNumber("attempt", 0);
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(request.Cancellation);
        await using var transaction = await connection.BeginTransactionAsync(request.Cancellation);
        var attempt = await connection.QuerySingleOrDefaultAsync<AttemptRow>(new CommandDefinition($"""
            {AttemptSelect} WHERE a.id = @attemptId FOR UPDATE OF a
            """, new { attemptId }, transaction, cancellationToken: request.Cancellation));
        var language = attempt?.LanguageCode ?? request.Flow.DefaultLanguage.Code;
        if (attempt is null || attempt.EndedAt is not null)
        {
            // The investigator is gone (hung up while this phone rang): no one to connect to.
            await transaction.CommitAsync(request.Cancellation);
            return Twiml(Prompt(request, new VoiceResponse(), language, IvrPromptKeys.Goodbye).Hangup());
        }
        if (attempt.WorkerAnsweredAt is null)
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE callback_attempts SET worker_answered_at = @now, outcome = 'reached', worker_call_sid = coalesce(worker_call_sid, @CallSid)
                WHERE id = @attemptId
                """, new { attemptId, now, request.Form.CallSid }, transaction, cancellationToken: request.Cancellation));
            await CallbackTasks.TimelineAsync(connection, transaction, attempt.ComplaintId, TimelineActor.Staff, attempt.StaffId, "callback.reached",
                new { callback_id = attempt.TaskId, attempt_id = attemptId }, request.Cancellation);
            await CallbackTasks.CloseAsync(connection, transaction, attempt.TaskId, attempt.StaffId, "called_back", null, null, now, request.Cancellation);
            if (attempt.ComplaintId is { } complaintId)
            {
                await Deadlines.ComplaintClocks.MeetFirstContactAsync(connection, transaction, complaintId, now, attempt.StaffId, request.Cancellation);
            }
        }
        await transaction.CommitAsync(request.Cancellation);
        LogReached(logger, attemptId, attempt.TaskId);
        return Twiml(Conference(Prompt(request, new VoiceResponse(), language, IvrPromptKeys.Connecting), attemptId));
    }

    /// <summary>POST /twilio/voice/callback/staff-status?attempt=N: the investigator's call progressed or ended.</summary>
    public Task<IResult> StaffStatusAsync(VoiceRequest request) => LegEndedAsync(request, async attempt =>
    {
        // The investigator never answered, or hung up while the worker's phone rang: that call is withdrawn.
        await EndAsync(attempt.Id, attempt.StaffAnsweredAt is null ? "staff_unreached" : "canceled", "callback.attempt_ended", request.Form.CallStatus,
            request.Cancellation);
        if (attempt.WorkerCallSid is { } workerCall)
        {
            await TryUpdateCallAsync(attempt.Id, new UpdateCallOptions(workerCall) { Status = CallResource.UpdateStatusEnum.Canceled });
        }
    });

    /// <summary>POST /twilio/voice/callback/worker-status?attempt=N: the worker's call progressed or ended.</summary>
    public Task<IResult> WorkerStatusAsync(VoiceRequest request) => LegEndedAsync(request, async attempt =>
    {
        var outcome = request.Form.CallStatus is "no-answer" or "busy" or "failed" or "canceled" ? request.Form.CallStatus : "failed";
        await EndAsync(attempt.Id, outcome, "callback.unanswered", outcome, request.Cancellation);
        LogUnanswered(logger, attempt.Id, outcome);
        if (attempt.StaffCallSid is { } staffCall)
        {
            // The investigator waits in the conference: tell them, and end their call.
            await TryUpdateCallAsync(attempt.Id, new UpdateCallOptions(staffCall)
            {
                Twiml = new global::Twilio.Types.Twiml(new VoiceResponse().Say(StaffText.Unanswered(outcome)).Hangup().ToString()),
            });
        }
    });

    /// <summary>
    /// One of an attempt's two calls ended. Once the worker answered, either call's end ends the
    /// callback's conversation; before that, <paramref name="beforeReached"/> says what the end means.
    /// </summary>
    private async Task<IResult> LegEndedAsync(VoiceRequest request, Func<AttemptRow, Task> beforeReached)
    {
        if (!CallStore.IsTerminal(request.Form.CallStatus)
            || await FindOpenAsync(request.QueryNumber("attempt", 0), request.Cancellation) is not { } attempt)
        {
            return Results.Ok();
        }
        if (attempt.WorkerAnsweredAt is not null)
        {
            await EndAsync(attempt.Id, null, "callback.call_ended", null, request.Cancellation, request.Form.CallDuration);
        }
        else
        {
            await beforeReached(attempt);
        }
        return Results.Ok();
    }

    private const string AttemptSelect = """
        SELECT a.id, a.callback_task_id AS task_id, a.staff_id, t.complaint_id, coalesce(t.language_code, k.language_code) AS language_code,
               a.staff_call_sid, a.worker_call_sid, a.staff_answered_at, a.worker_answered_at, a.ended_at, a.started_at, t.caller_identity_id
        FROM callback_attempts a
        JOIN callback_tasks t ON t.id = a.callback_task_id
        LEFT JOIN complaints k ON k.id = t.complaint_id
        """;

    private async Task<AttemptRow?> FindOpenAsync(long attemptId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AttemptRow>(new CommandDefinition(
            $"{AttemptSelect} WHERE a.id = @attemptId AND a.ended_at IS NULL", new { attemptId }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The safety net of the status callbacks (run with the forgotten work, every minute): each attempt
    /// open for more than two minutes whose calls Twilio says are over is ended. An open attempt keeps
    /// its investigator from being offered calls (<see cref="CallPresence.FreeForCalls"/>).
    /// </summary>
    public async Task SettleLostAttemptsAsync(CancellationToken cancellationToken)
    {
        long[] open;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            open = [.. await connection.QueryAsync<long>(new CommandDefinition(
                "SELECT id FROM callback_attempts WHERE ended_at IS NULL AND started_at < @before ORDER BY id",
                new { before = time.GetUtcNow() - TimeSpan.FromMinutes(2) }, cancellationToken: cancellationToken))];
        }
        foreach (var attemptId in open)
        {
            await SettleIfOverAsync(attemptId, cancellationToken);
        }
    }

    /// <summary>
    /// An open attempt is over when each of its calls is over at Twilio (or was never placed, a minute
    /// after the attempt began). Then it is ended here, as its status callback would have; true if so.
    /// </summary>
    private async Task<bool> SettleIfOverAsync(long attemptId, CancellationToken cancellationToken)
    {
        var attempt = await FindOpenAsync(attemptId, cancellationToken);
        if (attempt is null)
        {
            return true;
        }
        if (attempt.StartedAt > time.GetUtcNow().UtcDateTime - TimeSpan.FromMinutes(1))
        {
            return false;
        }
        try
        {
            foreach (var sid in new[] { attempt.StaffCallSid, attempt.WorkerCallSid })
            {
                if (sid is not null && !CallStore.IsTerminal((await CallResource.FetchAsync(sid, client: twilioRest)).Status.ToString()))
                {
                    return false;
                }
            }
        }
        catch (TwilioException ex)
        {
            LogUpdateFailed(logger, attemptId, TwilioFailures.Describe(ex));
            return false;
        }
        await EndAsync(attemptId, attempt.WorkerAnsweredAt is null ? "failed" : null, "callback.attempt_ended", "settled", cancellationToken);
        return true;
    }

    /// <summary>Ends an attempt once (its outcome kept if it has one), with its timeline entry and the consoles told.</summary>
    private async Task EndAsync(long attemptId, string? outcome, string timelineKind, string? status, CancellationToken cancellationToken, int? durationSeconds = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var ended = await connection.QuerySingleOrDefaultAsync<(long TaskId, int StaffId, long? ComplaintId, string? LanguageCode, string? Outcome)?>(new CommandDefinition("""
            UPDATE callback_attempts a SET ended_at = now(), outcome = coalesce(a.outcome, @outcome)
            FROM callback_tasks t LEFT JOIN complaints k ON k.id = t.complaint_id
            WHERE a.id = @attemptId AND a.ended_at IS NULL AND t.id = a.callback_task_id
            RETURNING a.callback_task_id, a.staff_id, t.complaint_id, coalesce(t.language_code, k.language_code), a.outcome
            """, new { attemptId, outcome }, transaction, cancellationToken: cancellationToken));
        if (ended is { } attempt)
        {
            await CallbackTasks.TimelineAsync(connection, transaction, attempt.ComplaintId, TimelineActor.System, attempt.StaffId, timelineKind,
                new { callback_id = attempt.TaskId, attempt_id = attemptId, outcome = attempt.Outcome, status, duration_seconds = durationSeconds },
                cancellationToken);
            await CallbackTasks.AnnounceAsync(connection, transaction, attempt.TaskId, attempt.ComplaintId, attempt.LanguageCode, "attempt_ended", cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Redirects or withdraws the other call of an attempt; it may have ended meanwhile, which is fine.</summary>
    private async Task TryUpdateCallAsync(long attemptId, UpdateCallOptions update)
    {
        try
        {
            await CallResource.UpdateAsync(update, twilioRest);
        }
        catch (TwilioException ex)
        {
            LogUpdateFailed(logger, attemptId, TwilioFailures.Describe(ex));
        }
    }

    private static VoiceResponse Conference(VoiceResponse response, long attemptId)
    {
        var dial = new Dial();
        dial.Conference(ConferenceName(attemptId), beep: "false", startConferenceOnEnter: true, endConferenceOnExit: true);
        return response.Append(dial);
    }

    private VoiceResponse Prompt(VoiceRequest request, VoiceResponse response, string language, string key) =>
        response.AddPrompt(request.Flow.Render(language, key, null, urls.AudioBase(request.Http)));

    private static TwiMLResult Twiml(VoiceResponse response) => new(response);

    /// <summary>What the investigator hears on their own leg (staff side: English).</summary>
    private static class StaffText
    {
        public const string Calling = "Calling the worker back from the hotline's number. Please wait.";
        public const string CouldNotCall = "The worker's phone could not be called. The callback stays on your list.";
        public const string Ended = "This callback has ended.";

        public static string Unanswered(string outcome) => outcome switch
        {
            "busy" => "The worker's line is busy. The callback stays on your list.",
            "no-answer" => "The worker did not answer. The callback stays on your list.",
            _ => "The call to the worker did not go through. The callback stays on your list.",
        };
    }

    [LoggerMessage(EventId = 3030, Level = LogLevel.Information, Message = "Callback attempt {AttemptId} of callback {CallbackId} started ({AnswerMode})")]
    private static partial void LogStarted(ILogger logger, long attemptId, long callbackId, string answerMode);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Information, Message = "Callback attempt {AttemptId}: the worker answered; callback {CallbackId} done")]
    private static partial void LogReached(ILogger logger, long attemptId, long callbackId);

    [LoggerMessage(EventId = 3032, Level = LogLevel.Information, Message = "Callback attempt {AttemptId}: the worker's call ended {Outcome}; the callback stays open")]
    private static partial void LogUnanswered(ILogger logger, long attemptId, string outcome);

    [LoggerMessage(EventId = 3033, Level = LogLevel.Warning, Message = "Callback attempt {AttemptId}: the {Leg} could not be called: {Error}")]
    private static partial void LogCallFailed(ILogger logger, long attemptId, string leg, string error);

    [LoggerMessage(EventId = 3034, Level = LogLevel.Warning, Message = "Callback attempt {AttemptId}: the other call could not be updated: {Error}")]
    private static partial void LogUpdateFailed(ILogger logger, long attemptId, string error);
}
