using System.Globalization;
using Dapper;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;

namespace WsrHotline.Voice;

/// <summary>One conference status callback, as Twilio posts it.</summary>
public sealed record ConferenceEvent(string Kind, string ConferenceSid, string? CallSid, string? Label, bool? Muted, bool? Hold, bool? Coaching)
{
    public static ConferenceEvent From(IFormCollection form)
    {
        static bool? Flag(IFormCollection form, string name) =>
            bool.TryParse(form[name], out var value) ? value : null;
        string? Text(string name) => form[name].ToString() is { Length: > 0 } value ? value : null;
        return new ConferenceEvent(form["StatusCallbackEvent"].ToString(), form["ConferenceSid"].ToString(), Text("CallSid"),
            Text("ParticipantLabel"), Flag(form, "Muted"), Flag(form, "Hold"), Flag(form, "Coaching"));
    }
}

/// <summary>A participant of a call's conference (one leg: a CallSid).</summary>
public sealed record CallParticipant(long Id, long CallId, string CallSid, string Role, int? StaffId, string? Label,
    DateTime? JoinedAt, DateTime? LeftAt, bool Muted, bool Held, bool Coaching);

/// <summary>What a status callback changed: its kind, the participant it was about, and whether only the worker is left.</summary>
public sealed record ConferenceChange(string Kind, string? ConferenceSid, CallParticipant? Participant, bool OnlyWorkerLeft, string? LeavingCallSid = null);

/// <summary>
/// The SQL of the conferences: one per answered call, named <c>call-{id}</c>; its sid on the call and
/// its participants in <c>call_participants</c>, from Twilio's conference status callbacks. Each join
/// and leave is on the case timeline (role, staff id, seconds: no numbers) and told to the consoles
/// of the staff in the call and the coordinators (<see cref="ConsoleEventKinds.CallParticipants"/>).
/// </summary>
public sealed class CallConferences(NpgsqlDataSource dataSource)
{
    public const string WorkerLabel = "worker";

    public static string Name(long callId) => "call-" + callId.ToString(CultureInfo.InvariantCulture);

    public static string StaffLabel(int staffId) => "staff-" + staffId.ToString(CultureInfo.InvariantCulture);

    /// <summary>A coordinator listening, coaching or barging in.</summary>
    public static string CoordinatorLabel(int staffId) => "coordinator-" + staffId.ToString(CultureInfo.InvariantCulture);

    public static string InterpreterLabel(string language) => "interpreter-" + language;

    /// <summary>The role and staff member a participant label names (labels are ours: see the methods above).</summary>
    public static (string Role, int? StaffId) RoleOf(string? label)
    {
        static int? Number(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
        return label switch
        {
            null or WorkerLabel => ("worker", null),
            _ when label.StartsWith("staff-", StringComparison.Ordinal) => ("investigator", Number(label["staff-".Length..])),
            _ when label.StartsWith("coordinator-", StringComparison.Ordinal) => ("coordinator", Number(label["coordinator-".Length..])),
            _ when label.StartsWith("interpreter-", StringComparison.Ordinal) => ("interpreter", null),
            _ => ("worker", null),
        };
    }

    /// <summary>Applies one status callback; null for a call never seen.</summary>
    public async Task<ConferenceChange?> ApplyAsync(long callId, ConferenceEvent e, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var call = await connection.QuerySingleOrDefaultAsync<(long Id, long? ComplaintId, string? LanguageCode, string? ConferenceSid, int? TransferTo, int? TransferFrom, string? TransferToLanguage)?>(new CommandDefinition("""
            SELECT id, complaint_id, language_code, conference_sid, transfer_to_staff_id, transfer_from_staff_id, transfer_to_language
            FROM calls WHERE id = @callId FOR UPDATE
            """,
            new { callId }, transaction, cancellationToken: cancellationToken));
        if (call is not { } row)
        {
            return null;
        }
        var conferenceSid = string.IsNullOrEmpty(e.ConferenceSid) ? row.ConferenceSid : e.ConferenceSid;
        if (row.ConferenceSid is null && conferenceSid is not null)
        {
            await connection.ExecuteAsync(new CommandDefinition("UPDATE calls SET conference_sid = @conferenceSid WHERE id = @callId",
                new { callId, conferenceSid }, transaction, cancellationToken: cancellationToken));
        }

        CallParticipant? participant = null;
        var onlyWorkerLeft = false;
        string? leaving = null;
        switch (e.Kind)
        {
            case "conference-end":
                var ended = await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE calls SET conference_ended_at = now() WHERE id = @callId AND conference_ended_at IS NULL;
                    """, new { callId }, transaction, cancellationToken: cancellationToken));
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE call_participants SET left_at = now() WHERE call_id = @callId AND left_at IS NULL",
                    new { callId }, transaction, cancellationToken: cancellationToken));
                if (ended > 0 && row.ComplaintId is { } endedCase)
                {
                    await Timeline.AppendAsync(connection, transaction, endedCase, TimelineActor.System, null, "call.conference_ended", new { }, cancellationToken);
                }
                break;
            case "participant-join" when e.CallSid is not null:
                var (role, staffId) = RoleOf(e.Label);
                participant = await connection.QuerySingleAsync<CallParticipant>(new CommandDefinition("""
                    INSERT INTO call_participants (call_id, call_sid, role, staff_id, label, joined_at, muted, held, coaching)
                    VALUES (@callId, @CallSid, @role, @staffId, @Label, now(), coalesce(@Muted, false), coalesce(@Hold, false), coalesce(@Coaching, false))
                    ON CONFLICT (call_id, call_sid) DO UPDATE SET joined_at = coalesce(call_participants.joined_at, excluded.joined_at)
                    RETURNING *
                    """, new { callId, e.CallSid, role, staffId, e.Label, e.Muted, e.Hold, e.Coaching }, transaction, cancellationToken: cancellationToken));
                if (row.ComplaintId is { } joinedCase)
                {
                    await Timeline.AppendAsync(connection, transaction, joinedCase, TimelineActor.System, participant.StaffId, "call.participant_joined",
                        new { role = participant.Role, staff_id = participant.StaffId, label = participant.Label, coaching = participant.Coaching, muted = participant.Muted }, cancellationToken);
                }
                if (participant.Role == "investigator" && participant.StaffId is { } joined && joined == row.TransferTo)
                {
                    // The colleague of a warm transfer is in: the call is theirs, and the first investigator leaves.
                    // Taken from another language's queue, the call is in that language from now on (its hold
                    // messages, its readout at the end, the consoles it is announced to).
                    var language = row.TransferToLanguage ?? row.LanguageCode;
                    await connection.ExecuteAsync(new CommandDefinition("""
                        UPDATE calls SET answered_by = @joined, language_code = @language,
                                         transfer_to_staff_id = NULL, transfer_from_staff_id = NULL, transfer_to_language = NULL
                        WHERE id = @callId
                        """, new { callId, joined, language }, transaction, cancellationToken: cancellationToken));
                    leaving = await connection.ExecuteScalarAsync<string?>(new CommandDefinition("""
                        SELECT call_sid FROM call_participants WHERE call_id = @callId AND staff_id = @from AND role = 'investigator' AND left_at IS NULL
                        ORDER BY id LIMIT 1
                        """, new { callId, from = row.TransferFrom }, transaction, cancellationToken: cancellationToken));
                    if (row.ComplaintId is { } transferredCase)
                    {
                        await Timeline.AppendAsync(connection, transaction, transferredCase, TimelineActor.System, joined, "call.transferred",
                            row.TransferToLanguage is { } toLanguage
                                ? new { from_staff_id = row.TransferFrom, to_staff_id = joined, from_language = row.LanguageCode, to_language = toLanguage }
                                : (object)new { from_staff_id = row.TransferFrom, to_staff_id = joined }, cancellationToken);
                    }
                    // Their active-call panel shows the call as it now is (its language).
                    await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallAnswered, Audience.StaffMember(joined), row.ComplaintId,
                        new { callId, staffId = joined, language, transferred = true }, cancellationToken);
                }
                break;
            case "participant-leave" when e.CallSid is not null:
                participant = await connection.QuerySingleOrDefaultAsync<CallParticipant>(new CommandDefinition("""
                    UPDATE call_participants SET left_at = now() WHERE call_id = @callId AND call_sid = @CallSid AND left_at IS NULL
                    RETURNING *
                    """, new { callId, e.CallSid }, transaction, cancellationToken: cancellationToken));
                if (participant is not null && row.ComplaintId is { } leftCase)
                {
                    var seconds = participant.JoinedAt is { } joinedAt ? (int)(participant.LeftAt!.Value - joinedAt).TotalSeconds : (int?)null;
                    await Timeline.AppendAsync(connection, transaction, leftCase, TimelineActor.System, participant.StaffId, "call.participant_left",
                        new { role = participant.Role, staff_id = participant.StaffId, seconds }, cancellationToken);
                }
                if (participant is { Role: not "worker" })
                {
                    // The worker still in, and nobody of the hotline with them (an interpreter alone does not count).
                    onlyWorkerLeft = await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
                        SELECT EXISTS (SELECT 1 FROM call_participants WHERE call_id = @callId AND left_at IS NULL AND role = 'worker')
                           AND NOT EXISTS (SELECT 1 FROM call_participants WHERE call_id = @callId AND left_at IS NULL AND role IN ('investigator', 'coordinator'))
                        """, new { callId }, transaction, cancellationToken: cancellationToken));
                }
                break;
            case "participant-mute" or "participant-unmute" or "participant-hold" or "participant-unhold" or "participant-modify" when e.CallSid is not null:
                participant = await connection.QuerySingleOrDefaultAsync<CallParticipant>(new CommandDefinition("""
                    UPDATE call_participants SET muted = coalesce(@Muted, muted), held = coalesce(@Hold, held), coaching = coalesce(@Coaching, coaching)
                    WHERE call_id = @callId AND call_sid = @CallSid
                    RETURNING *
                    """, new
                    {
                        callId, e.CallSid,
                        Muted = e.Kind switch { "participant-mute" => true, "participant-unmute" => false, _ => e.Muted },
                        Hold = e.Kind switch { "participant-hold" => true, "participant-unhold" => false, _ => e.Hold },
                        e.Coaching,
                    }, transaction, cancellationToken: cancellationToken));
                break;
        }

        await AnnounceAsync(connection, transaction, callId, row.ComplaintId, e.Kind, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new ConferenceChange(e.Kind, conferenceSid, participant, onlyWorkerLeft, leaving);
    }

    /// <summary>The participants now (those still in first), for the console's active-call panel.</summary>
    public async Task<IReadOnlyList<CallParticipant>> ParticipantsAsync(long callId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return [.. await connection.QueryAsync<CallParticipant>(new CommandDefinition(
            "SELECT * FROM call_participants WHERE call_id = @callId ORDER BY left_at IS NOT NULL, id", new { callId }, cancellationToken: cancellationToken))];
    }

    private static async Task AnnounceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long callId, long? complaintId, string kind, CancellationToken cancellationToken)
    {
        var present = (await connection.QueryAsync<(string Role, int? StaffId, bool Muted, bool Held, bool Coaching)>(new CommandDefinition("""
            SELECT role, staff_id, muted, held, coaching FROM call_participants WHERE call_id = @callId AND left_at IS NULL ORDER BY id
            """, new { callId }, transaction, cancellationToken: cancellationToken))).ToArray();
        var payload = new
        {
            callId,
            kind,
            participants = present.Select(p => new { role = p.Role, staffId = p.StaffId, muted = p.Muted, held = p.Held, coaching = p.Coaching }).ToArray(),
        };
        var staff = await connection.QueryAsync<int>(new CommandDefinition("""
            SELECT DISTINCT staff_id FROM call_participants WHERE call_id = @callId AND staff_id IS NOT NULL
            UNION SELECT answered_by FROM calls WHERE id = @callId AND answered_by IS NOT NULL
            """, new { callId }, transaction, cancellationToken: cancellationToken));
        foreach (var staffId in staff)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallParticipants, Audience.StaffMember(staffId), complaintId, payload, cancellationToken);
        }
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallParticipants, Audience.Coordinators, complaintId, payload, cancellationToken);
    }
}
