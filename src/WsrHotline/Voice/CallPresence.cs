using Dapper;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;

namespace WsrHotline.Voice;

/// <summary>
/// Presence that follows the call: the investigator who takes a call is on it (no call is offered to
/// them; texts still are), then wraps it up for at most <see cref="VoiceOptions.WrapUpMaximum"/>, then
/// is free again, by submitting the wrap-up or when its time runs out (a Hangfire job scheduled at
/// that moment; an expired wrap-up counts as free even before the job has run).
/// <c>staff_presence.status</c> stays what the investigator chose (available, busy, away);
/// <c>activity</c> is what the calls made of it.
/// </summary>
public sealed partial class CallPresence(
    NpgsqlDataSource dataSource, IBackgroundJobClient jobs, IOptions<VoiceOptions> options, TimeProvider time, ILogger<CallPresence> logger)
{
    /// <summary>
    /// SQL: staff member <c>{staff}.id</c> is neither on a call nor wrapping one up at <c>@at</c>, nor
    /// calling a worker back (an attempt still open: <see cref="CallingBack"/>). Used by the console
    /// offer, the transfers and the phone tiers.
    /// </summary>
    public static string FreeForCalls(string staff) => $"""
        NOT EXISTS (SELECT 1 FROM staff_presence busy WHERE busy.staff_id = {staff}.id
                    AND (busy.activity = 'on_call' OR (busy.activity = 'wrap_up' AND busy.wrap_up_until > @at)))
        AND NOT EXISTS (SELECT 1 FROM callback_attempts calling WHERE calling.staff_id = {staff}.id AND calling.ended_at IS NULL)
        """;

    /// <summary>The investigator took the call (in the claim's transaction).</summary>
    public static async Task OnCallAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int staffId, long callId, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO staff_presence (staff_id, activity, activity_call_id, updated_at) VALUES (@staffId, 'on_call', @callId, now())
            ON CONFLICT (staff_id) DO UPDATE SET activity = 'on_call', activity_call_id = @callId, wrap_up_until = NULL, updated_at = now()
            """, new { staffId, callId }, transaction, cancellationToken: cancellationToken));
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
            new { staffId, activity = "on_call", callId }, cancellationToken);
    }

    /// <summary>The claim did not hold (the leg never got through, the caller had gone): free again at once.</summary>
    public static async Task NotOnCallAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, int staffId, long callId, CancellationToken cancellationToken)
    {
        var freed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE staff_presence SET activity = 'idle', activity_call_id = NULL, wrap_up_until = NULL, updated_at = now()
            WHERE staff_id = @staffId AND activity IN ('on_call', 'wrap_up') AND activity_call_id = @callId
            """, new { staffId, callId }, transaction, cancellationToken: cancellationToken));
        if (freed > 0)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
                new { staffId, activity = "idle", callId }, cancellationToken);
        }
    }

    /// <summary>
    /// The call is over for <paramref name="staffId"/> (or, when null, for everyone on it): wrap-up
    /// begins. Idempotent: only those still on this call move.
    /// </summary>
    public async Task CallEndedAsync(long callId, int? staffId, CancellationToken cancellationToken)
    {
        var until = time.GetUtcNow() + options.Value.WrapUpMaximum;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var moved = (await connection.QueryAsync<int>(new CommandDefinition("""
            UPDATE staff_presence SET activity = 'wrap_up', wrap_up_until = @until, updated_at = now()
            WHERE activity = 'on_call' AND activity_call_id = @callId AND (@staffId::int IS NULL OR staff_id = @staffId)
            RETURNING staff_id
            """, new { callId, staffId, until }, transaction, cancellationToken: cancellationToken))).ToArray();
        var complaintId = moved.Length == 0 ? null : await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT complaint_id FROM calls WHERE id = @callId", new { callId }, transaction, cancellationToken: cancellationToken));
        foreach (var staff in moved)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
                new { staffId = staff, activity = "wrap_up", callId, until }, cancellationToken);
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallWrapUp, Audience.StaffMember(staff), complaintId,
                new { callId, staffId = staff, wrapUpUntil = until }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        foreach (var staff in moved)
        {
            Jobs.AfterCommit.Enqueue(logger, "wrap-up", () => jobs.Schedule<CallPresence>(
                presence => presence.EndWrapUpAsync(staff, callId, CancellationToken.None), until));
        }
    }

    /// <summary>
    /// The job at the end of a wrap-up: an investigator who has not submitted it is free again. True
    /// when this run freed them (a submitted or later wrap-up is left alone).
    /// </summary>
    public async Task<bool> EndWrapUpAsync(int staffId, long callId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaintId = await connection.QuerySingleOrDefaultAsync<(long CallId, long? ComplaintId)?>(new CommandDefinition("""
            WITH freed AS (
                UPDATE staff_presence SET activity = 'idle', activity_call_id = NULL, wrap_up_until = NULL, updated_at = now()
                WHERE staff_id = @staffId AND activity = 'wrap_up' AND activity_call_id = @callId AND wrap_up_until <= @now
                RETURNING staff_id
            )
            SELECT c.id, c.complaint_id FROM freed JOIN calls c ON c.id = @callId
            """, new { staffId, callId, now = time.GetUtcNow() }, transaction, cancellationToken: cancellationToken));
        if (complaintId is not { } freed)
        {
            return false;
        }
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
            new { staffId, activity = "idle", callId }, cancellationToken);
        if (freed.ComplaintId is { } complaint)
        {
            await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, staffId, "call.wrap_up_timed_out",
                new { minutes = options.Value.WrapUpMaximum.TotalMinutes }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        LogWrapUpTimedOut(logger, staffId, callId);
        return true;
    }

    [LoggerMessage(EventId = 3014, Level = LogLevel.Information, Message = "Wrap-up of call {CallId} by staff {StaffId} ran out: available again")]
    private static partial void LogWrapUpTimedOut(ILogger logger, int staffId, long callId);
}
