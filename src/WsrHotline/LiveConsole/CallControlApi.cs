using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Exceptions;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Staff;
using WsrHotline.Voice;

namespace WsrHotline.LiveConsole;

/// <summary>
/// The active call in the console, under <c>/console/api/calls</c>: what the panel shows, the controls
/// (hold, mute, hang up: through Twilio's Participants and Conference API, <see cref="CallControls"/>),
/// and the wrap-up after it. Only the investigator on the call or a coordinator may use a control;
/// each is on the case timeline.
/// </summary>
public static partial class CallControlApi
{
    public const int MaxNoteLength = 4000;

    public sealed record Toggle(bool On);

    public sealed record WrapUpInput(string? Disposition, string? Note);

    public sealed record InterpreterInput(string? Language);

    public sealed record MonitorInput(string? Mode);

    /// <summary>A transfer to a colleague (<see cref="StaffId"/>) or to the queue of another hotline language (<see cref="Language"/>, its code).</summary>
    public sealed record TransferInput(int? StaffId, string? Language = null);

    public sealed record Disposition(string Code, string Label);

    public sealed record ParticipantItem(string Role, int? StaffId, string? StaffName, bool Muted, bool Held, bool Coaching);

    /// <summary>What the console shows about this staff member's call: on it, or wrapping it up.</summary>
    public sealed record ActiveCall(long CallId, string Activity, string? LanguageCode, string? CaseNumber, long? ComplaintId,
        DateTime? AnsweredAt, DateTime? WrapUpUntil, ParticipantItem[] Participants, Disposition[] Dispositions);

    private sealed record CallForControl(long Id, string CallSid, long? ComplaintId, string? LanguageCode, int? AnsweredBy,
        string? ConferenceSid, DateTime? ConferenceEndedAt, string? RestrictedTeam);

    public static RouteGroupBuilder MapCallControls(this RouteGroupBuilder api)
    {
        api.MapGet("/calls/active", ActiveAsync);
        api.MapPost("/calls/{callId:long}/hold", (long callId, Toggle input, HttpContext http, NpgsqlDataSource dataSource, CallControls controls, VoiceUrls urls, CancellationToken cancellationToken) =>
            ControlAsync(callId, http, dataSource, input.On ? "call.held" : "call.resumed", (call, _) =>
                controls.HoldAsync(call.ConferenceSid!, call.CallSid, input.On, urls.ForTwiml(http.Request, "hold-music", ("lang", call.LanguageCode), ("held", 1)), cancellationToken), cancellationToken));
        api.MapPost("/calls/{callId:long}/mute", (long callId, Toggle input, HttpContext http, NpgsqlDataSource dataSource, CallControls controls, CancellationToken cancellationToken) =>
            ControlAsync(callId, http, dataSource, input.On ? "call.muted" : "call.unmuted", (call, investigatorSid) =>
                controls.MuteAsync(call.ConferenceSid!, investigatorSid!, input.On, cancellationToken), cancellationToken,
                cannotApply: investigatorSid => investigatorSid is null ? "There is no investigator's line in this call to mute." : null));
        api.MapPost("/calls/{callId:long}/hangup", (long callId, HttpContext http, NpgsqlDataSource dataSource, CallControls controls, CancellationToken cancellationToken) =>
            ControlAsync(callId, http, dataSource, "call.hung_up", (call, _) =>
                controls.EndConferenceAsync(call.ConferenceSid!, cancellationToken), cancellationToken));
        api.MapPost("/calls/{callId:long}/wrap-up", WrapUpAsync);
        api.MapPost("/calls/{callId:long}/interpreter", InterpreterAsync);
        api.MapPost("/calls/{callId:long}/monitor", MonitorAsync).RequireAuthorization(StaffPolicies.Coordinator);
        api.MapPost("/calls/{callId:long}/transfer", TransferAsync);
        api.MapGet("/interpreters", (IOptions<VoiceOptions> options) =>
            TypedResults.Ok(options.Value.Interpreters.Select(i => new Disposition(i.Key, i.Value.Name)).ToArray()));
        return api;
    }

    private static Disposition[] Dispositions(VoiceOptions options) =>
        [.. options.OfferedDispositions.Select(d => new Disposition(d.Key, d.Value))];

    /// <summary>GET /console/api/calls/active: this staff member's call, or 204 when they are on none.</summary>
    private static async Task<Results<Ok<ActiveCall>, NoContent>> ActiveAsync(HttpContext http, NpgsqlDataSource dataSource,
        IOptions<VoiceOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var staffId = http.User.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(long CallId, string Activity, string? LanguageCode, string? CaseNumber, long? ComplaintId, DateTime? AnsweredAt, DateTime? WrapUpUntil)?>(new CommandDefinition("""
            SELECT c.id, p.activity, c.language_code, k.case_number, c.complaint_id, c.answered_at, p.wrap_up_until
            FROM staff_presence p JOIN calls c ON c.id = p.activity_call_id LEFT JOIN complaints k ON k.id = c.complaint_id
            WHERE p.staff_id = @staffId AND (p.activity = 'on_call' OR (p.activity = 'wrap_up' AND p.wrap_up_until > @now))
            """, new { staffId, now = time.GetUtcNow() }, cancellationToken: cancellationToken));
        if (row is not { } call)
        {
            return TypedResults.NoContent();
        }
        var participants = await connection.QueryAsync<ParticipantItem>(new CommandDefinition("""
            SELECT p.role, p.staff_id, s.display_name AS staff_name, p.muted, p.held, p.coaching
            FROM call_participants p LEFT JOIN staff s ON s.id = p.staff_id
            WHERE p.call_id = @callId AND p.left_at IS NULL ORDER BY p.id
            """, new { call.CallId }, cancellationToken: cancellationToken));
        return TypedResults.Ok(new ActiveCall(call.CallId, call.Activity, call.LanguageCode, call.CaseNumber, call.ComplaintId,
            call.AnsweredAt, call.WrapUpUntil, [.. participants], Dispositions(options.Value)));
    }

    /// <summary>
    /// One control on a call: the caller must be the investigator on it (or a coordinator), the
    /// conference must be up; Twilio carries it out, then it is on the timeline.
    /// </summary>
    /// <param name="control">Carries the control out, given the call and the investigator leg (its CallSid; null when none is in the call).</param>
    /// <param name="cannotApply">
    /// Why the control cannot apply to the call as it is now (say, no investigator leg to mute), or
    /// null when it can. Asked before Twilio is: a reason is answered 409 with that sentence, nothing is
    /// done and nothing is on the timeline (a control that found out by throwing answered 500).
    /// </param>
    private static async Task<Results<NoContent, ProblemHttpResult>> ControlAsync(long callId, HttpContext http, NpgsqlDataSource dataSource,
        string timelineKind, Func<CallForControl, string?, Task> control, CancellationToken cancellationToken, object? details = null,
        Func<string?, string?>? cannotApply = null)
    {
        var user = http.User;
        var staffId = user.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var call = await connection.QuerySingleOrDefaultAsync<CallForControl>(new CommandDefinition("""
            SELECT c.id, c.call_sid, c.complaint_id, c.language_code, c.answered_by, c.conference_sid, c.conference_ended_at, k.restricted_team
            FROM calls c LEFT JOIN complaints k ON k.id = c.complaint_id WHERE c.id = @callId
            """, new { callId }, cancellationToken: cancellationToken));
        if (call is null)
        {
            return TypedResults.Problem($"There is no call {callId}.", statusCode: StatusCodes.Status404NotFound);
        }
        // The investigator leg this staff member is on (or, for a coordinator, the one who answered).
        var investigatorSid = await connection.ExecuteScalarAsync<string?>(new CommandDefinition("""
            SELECT call_sid FROM call_participants
            WHERE call_id = @callId AND role = 'investigator' AND left_at IS NULL
            ORDER BY (staff_id = @staffId) DESC, (staff_id = @answeredBy) DESC, id LIMIT 1
            """, new { callId, staffId, answeredBy = call.AnsweredBy }, cancellationToken: cancellationToken));
        var onCall = call.AnsweredBy == staffId || await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM call_participants WHERE call_id = @callId AND staff_id = @staffId AND role = 'investigator' AND left_at IS NULL)
            """, new { callId, staffId }, cancellationToken: cancellationToken));
        if (!(onCall || user.SeesEverything()) || !CaseAccess.CanOpen(user, call.RestrictedTeam))
        {
            return TypedResults.Problem("Only the investigator on this call, or a coordinator, can do that.", statusCode: StatusCodes.Status403Forbidden);
        }
        if (call.ConferenceSid is null || call.ConferenceEndedAt is not null)
        {
            return TypedResults.Problem(call.ConferenceEndedAt is null ? "The call is not connected yet." : "The call has ended.",
                statusCode: StatusCodes.Status409Conflict);
        }
        if (cannotApply?.Invoke(investigatorSid) is { } reason)
        {
            return TypedResults.Problem(reason, statusCode: StatusCodes.Status409Conflict);
        }
        try
        {
            await control(call, investigatorSid);
        }
        catch (TwilioException ex)
        {
            LogControlFailed(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CallControlApi)), timelineKind, callId,
                Twilio.TwilioFailures.Describe(ex));
            return TypedResults.Problem("Twilio did not carry that out; try again.", statusCode: StatusCodes.Status502BadGateway);
        }
        if (call.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, null, complaintId, TimelineActor.Staff, staffId, timelineKind, details ?? new { call_id = callId }, cancellationToken);
        }
        return TypedResults.NoContent();
    }

    /// <summary>
    /// POST /console/api/calls/{id}/wrap-up: the disposition and note of the call just ended; the
    /// investigator is available again. The note is encrypted (it may hold the worker's words).
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> WrapUpAsync(long callId, WrapUpInput input, HttpContext http,
        NpgsqlDataSource dataSource, PiiProtector pii, IOptions<VoiceOptions> options, CancellationToken cancellationToken)
    {
        var staffId = http.User.StaffId();
        var disposition = input.Disposition ?? "";
        if (!options.Value.OfferedDispositions.Any(d => d.Key == disposition))
        {
            return TypedResults.Problem($"Choose a disposition: {string.Join(", ", options.Value.OfferedDispositions.Select(d => d.Value))}.", statusCode: StatusCodes.Status400BadRequest);
        }
        var note = input.Note?.Trim();
        if (note is { Length: > MaxNoteLength })
        {
            return TypedResults.Problem($"A note has at most {MaxNoteLength:N0} characters.", statusCode: StatusCodes.Status400BadRequest);
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaintId = await connection.QuerySingleOrDefaultAsync<(long CallId, long? ComplaintId)?>(new CommandDefinition("""
            SELECT c.id, c.complaint_id FROM calls c
            WHERE c.id = @callId AND (c.answered_by = @staffId
                  OR EXISTS (SELECT 1 FROM call_participants p WHERE p.call_id = c.id AND p.staff_id = @staffId))
            """, new { callId, staffId }, transaction, cancellationToken: cancellationToken));
        if (complaintId is not { } call)
        {
            return TypedResults.Problem("Only an investigator who was on this call can wrap it up.", statusCode: StatusCodes.Status403Forbidden);
        }
        var saved = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO call_wrap_ups (call_id, staff_id, disposition, note_encrypted) VALUES (@callId, @staffId, @disposition, @note)
            ON CONFLICT (call_id, staff_id) DO NOTHING
            """, new { callId, staffId, disposition, note = string.IsNullOrEmpty(note) ? null : pii.Encrypt(note, PiiPurpose.CallWrapUpNote) },
            transaction, cancellationToken: cancellationToken));
        if (saved == 0)
        {
            return TypedResults.Problem("This call is already wrapped up.", statusCode: StatusCodes.Status409Conflict);
        }
        if (call.ComplaintId is { } complaint)
        {
            await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.Staff, staffId, "call.wrapped_up",
                new { call_id = callId, disposition, note_length = note?.Length ?? 0 }, cancellationToken);
        }
        var freed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE staff_presence SET activity = 'idle', activity_call_id = NULL, wrap_up_until = NULL, updated_at = now()
            WHERE staff_id = @staffId AND activity_call_id = @callId
            """, new { staffId, callId }, transaction, cancellationToken: cancellationToken));
        if (freed > 0)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
                new { staffId, activity = "idle", callId }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>POST /console/api/calls/{id}/interpreter: dials the configured interpreter line of a language into the call.</summary>
    private static Task<Results<NoContent, ProblemHttpResult>> InterpreterAsync(long callId, InterpreterInput input, HttpContext http,
        NpgsqlDataSource dataSource, CallControls controls, VoiceUrls urls, IOptions<VoiceOptions> options, IOptions<Hosting.HotlineOptions> hotline,
        CancellationToken cancellationToken)
    {
        if (input.Language is not { } language || !options.Value.Interpreters.TryGetValue(language, out var line) || string.IsNullOrEmpty(line.Phone))
        {
            return Task.FromResult<Results<NoContent, ProblemHttpResult>>(TypedResults.Problem(
                "There is no interpreter line for that language (Voice:Interpreters).", statusCode: StatusCodes.Status400BadRequest));
        }
        return ControlAsync(callId, http, dataSource, "call.interpreter_called", (call, _) =>
            controls.AddAsync(call.ConferenceSid!, line.Phone, hotline.Value.TollFreeNumber, CallConferences.InterpreterLabel(language),
                urls.ForTwiml(http.Request, "conference-status", ("call", call.Id)), cancellationToken: cancellationToken), cancellationToken,
            new { language, line = line.Name });
    }

    /// <summary>
    /// POST /console/api/calls/{id}/monitor (coordinators): listen (muted), coach (heard by the
    /// investigator only) or barge (in the call). The first time, the coordinator's browser or phone is
    /// dialled in; after that the mode of their leg changes.
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> MonitorAsync(long callId, MonitorInput input, HttpContext http,
        NpgsqlDataSource dataSource, CallControls controls, VoiceUrls urls, IOptions<Hosting.HotlineOptions> hotline, CancellationToken cancellationToken)
    {
        var mode = input.Mode ?? "";
        if (mode is not ("listen" or "coach" or "barge"))
        {
            return TypedResults.Problem("Mode is listen, coach or barge.", statusCode: StatusCodes.Status400BadRequest);
        }
        var staffId = http.User.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var me = await connection.QuerySingleAsync<(string AnswerMode, string? Phone, string? LegSid)>(new CommandDefinition("""
            SELECT coalesce(p.answer_mode, 'browser') AS answer_mode, s.phone_e164 AS phone,
                   (SELECT call_sid FROM call_participants WHERE call_id = @callId AND staff_id = @staffId AND role = 'coordinator' AND left_at IS NULL LIMIT 1) AS leg_sid
            FROM staff s LEFT JOIN staff_presence p ON p.staff_id = s.id WHERE s.id = @staffId
            """, new { callId, staffId }, cancellationToken: cancellationToken));
        return await ControlAsync(callId, http, dataSource, "call.monitor", async (call, investigatorSid) =>
        {
            var coach = mode == "coach" ? investigatorSid : null;
            if (me.LegSid is { } leg)
            {
                await controls.MonitorAsync(call.ConferenceSid!, leg, mode == "listen", coach, cancellationToken);
                return;
            }
            var to = me.AnswerMode == "phone" && me.Phone is not null ? me.Phone : "client:" + ConsoleOffers.ClientIdentity(staffId);
            await controls.AddAsync(call.ConferenceSid!, to, hotline.Value.TollFreeNumber, CallConferences.CoordinatorLabel(staffId),
                urls.ForTwiml(http.Request, "conference-status", ("call", call.Id)), muted: mode == "listen", callSidToCoach: coach, cancellationToken);
        }, cancellationToken, new { mode },
            cannotApply: investigatorSid => mode == "coach" && investigatorSid is null ? "There is no investigator in this call to coach." : null);
    }

    /// <summary>
    /// POST /console/api/calls/{id}/transfer: a warm transfer, to a colleague (<c>{staffId}</c>) or to
    /// the queue of another hotline language (<c>{language}</c>). Either way only those who may take the
    /// call now are offered it (<see cref="CallTakers.MayTakeNowAsync"/>: they speak the language, are
    /// available and free, and may open the case when it is restricted to a team). Their console rings;
    /// on accept they are dialled into the call, and once they are in, the first investigator leaves it
    /// (<see cref="ConsoleOffers.AcceptTransferAsync"/>, <see cref="CallConferences.ApplyAsync"/>).
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> TransferAsync(long callId, TransferInput input, HttpContext http,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken)
    {
        var staffId = http.User.StaffId();
        if (input.Language is { Length: > 0 } && input.StaffId is not null)
        {
            return TypedResults.Problem("Transfer to a colleague or to a language's queue, not both.", statusCode: StatusCodes.Status400BadRequest);
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Nothing is written unless the transaction commits: every refusal below changes nothing.
        var call = await LockCallToTransferAsync(connection, transaction, callId, staffId, cancellationToken);
        var result = input.Language is { Length: > 0 } language
            ? await TransferToQueueAsync(connection, transaction, call, staffId, language, time.GetUtcNow(), cancellationToken)
            : await TransferToColleagueAsync(connection, transaction, call, staffId, input.StaffId, time.GetUtcNow(), cancellationToken);
        if (result is null)
        {
            await transaction.CommitAsync(cancellationToken);
            return TypedResults.NoContent();
        }
        return result;
    }

    /// <summary>Offers the call to one colleague; null when offered, else the refusal.</summary>
    private static async Task<ProblemHttpResult?> TransferToColleagueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CallToTransfer? call, int staffId, int? target, DateTimeOffset now, CancellationToken cancellationToken)
    {
        int[] takers = call?.LanguageCode is { } language
            ? await CallTakers.MayTakeNowAsync(connection, transaction, language, call.RestrictedTeam, now, cancellationToken)
            : [];
        if (call is null || target is not { } colleague || colleague == staffId || !takers.Contains(colleague))
        {
            return TypedResults.Problem("Only the investigator on the call can transfer it, to a colleague who speaks the worker's language, " +
                "is available now and may open the case.", statusCode: StatusCodes.Status409Conflict);
        }
        // A queue transfer offered before is replaced: its accept now finds nothing waiting.
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET transfer_to_staff_id = @colleague, transfer_to_language = NULL, transfer_from_staff_id = @staffId WHERE id = @Id
            """, new { call.Id, staffId, colleague }, transaction, cancellationToken: cancellationToken));
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallOffered, Audience.StaffMember(colleague), call.ComplaintId,
            new { callId = call.Id, caseNumber = call.CaseNumber, language = call.LanguageCode, transfer = true, fromStaffId = staffId }, cancellationToken);
        if (call.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Staff, staffId, "call.transfer_offered",
                new { to_staff_id = colleague }, cancellationToken);
        }
        return null;
    }

    /// <summary>
    /// Offers the call to the queue of <paramref name="language"/>: it rings, like a new call, in the
    /// console of everyone who may take it in that language; the first to accept gets it. Null when
    /// offered, else the refusal (nobody to offer it to: 409, and nothing changes).
    /// </summary>
    private static async Task<ProblemHttpResult?> TransferToQueueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CallToTransfer? call, int staffId, string language, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var languageName = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT name FROM languages WHERE code = @language AND active", new { language }, transaction, cancellationToken: cancellationToken));
        if (languageName is null)
        {
            return TypedResults.Problem($"The hotline has no language \"{language}\".", statusCode: StatusCodes.Status400BadRequest);
        }
        if (call is null)
        {
            return TypedResults.Problem("Only the investigator on the call can transfer it.", statusCode: StatusCodes.Status409Conflict);
        }
        if (call.LanguageCode == language)
        {
            return TypedResults.Problem($"The call is already in {languageName}: transfer it to a colleague instead.", statusCode: StatusCodes.Status400BadRequest);
        }
        var takers = await CallTakers.MayTakeNowAsync(connection, transaction, language, call.RestrictedTeam, now, cancellationToken);
        if (takers.Length == 0)
        {
            return TypedResults.Problem($"Nobody who speaks {languageName} is available now.", statusCode: StatusCodes.Status409Conflict);
        }
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET transfer_to_staff_id = NULL, transfer_to_language = @language, transfer_from_staff_id = @staffId WHERE id = @Id
            """, new { call.Id, staffId, language }, transaction, cancellationToken: cancellationToken));
        // The banner of a new call, in that language; Accept takes it as a transfer (hub AcceptTransfer).
        foreach (var taker in takers)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallOffered, Audience.StaffMember(taker), call.ComplaintId,
                new { callId = call.Id, caseNumber = call.CaseNumber, language, transfer = true, queue = true, fromLanguage = call.LanguageCode, fromStaffId = staffId },
                cancellationToken);
        }
        if (call.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Staff, staffId, "call.transfer_offered",
                new { to_language = language, from_language = call.LanguageCode, staff_ids = takers }, cancellationToken);
        }
        return null;
    }

    private sealed record CallToTransfer(long Id, long? ComplaintId, string? LanguageCode, string? CaseNumber, string? RestrictedTeam);

    /// <summary>
    /// The call, locked until the transfer is decided, when <paramref name="staffId"/> is the
    /// investigator who has it and its conference is up; null otherwise.
    /// </summary>
    private static Task<CallToTransfer?> LockCallToTransferAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long callId, int staffId,
        CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<CallToTransfer>(new CommandDefinition("""
            SELECT c.id, c.complaint_id, c.language_code, k.case_number, k.restricted_team
            FROM calls c LEFT JOIN complaints k ON k.id = c.complaint_id
            WHERE c.id = @callId AND c.answered_by = @staffId AND c.conference_sid IS NOT NULL AND c.conference_ended_at IS NULL
            FOR UPDATE OF c
            """, new { callId, staffId }, transaction, cancellationToken: cancellationToken));

    [LoggerMessage(EventId = 3015, Level = LogLevel.Warning, Message = "Call control {Control} on call {CallId} failed at Twilio: {Error}")]
    private static partial void LogControlFailed(ILogger logger, string control, long callId, string error);
}
