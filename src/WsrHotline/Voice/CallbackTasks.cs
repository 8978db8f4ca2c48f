using Dapper;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;

namespace WsrHotline.Voice;

/// <summary>A callback owed, as the console's callback list shows it (ids and labels: the worker's number stays encrypted).</summary>
public sealed record CallbackItem(
    long Id, long? ComplaintId, string? CaseNumber, string? LanguageCode, string Reason, DateTime DueAt, DateTime CreatedAt,
    int Attempts, string? LastOutcome, bool Calling, bool Restricted);

/// <summary>
/// The SQL of <c>callback_tasks</c> (Voice owns the table): the open ones for a staff member, and
/// closing one. A task's clock (a <c>deadlines</c> row of kind 'callback') is met by migration 0005's
/// trigger when <c>done_at</c> is set; <see cref="CloseAsync"/> puts that on the timeline.
/// </summary>
public static class CallbackTasks
{
    /// <summary>Why a callback was closed by hand (<c>callback_tasks.closed_reason</c>); 'other' needs a note.</summary>
    public static readonly IReadOnlyList<string> HandReasons = ["reached_by_text", "reached_by_phone", "worker_called_again", "not_needed", "other"];

    /// <summary>The live event that refreshes the callback lists of a language's consoles.</summary>
    public const string ChangedEvent = "callback.changed";

    /// <summary>
    /// The callbacks owed in this staff member's languages (and those whose caller chose none), most
    /// urgent first; a restricted case's only for those who may open it.
    /// </summary>
    public static async Task<CallbackItem[]> OpenForAsync(
        NpgsqlConnection connection, int staffId, bool seesEverything, string? team, CancellationToken cancellationToken) =>
        [.. await connection.QueryAsync<CallbackItem>(new CommandDefinition($"""
            SELECT t.id, t.complaint_id, k.case_number, coalesce(t.language_code, k.language_code) AS language_code, t.reason,
                   t.due_at, t.created_at,
                   (SELECT count(*) FROM callback_attempts a WHERE a.callback_task_id = t.id)::int AS attempts,
                   (SELECT a.outcome FROM callback_attempts a WHERE a.callback_task_id = t.id ORDER BY a.id DESC LIMIT 1) AS last_outcome,
                   EXISTS (SELECT 1 FROM callback_attempts a WHERE a.callback_task_id = t.id AND a.ended_at IS NULL) AS calling,
                   k.restricted_team IS NOT NULL AS restricted
            FROM callback_tasks t
            LEFT JOIN complaints k ON k.id = t.complaint_id
            WHERE t.done_at IS NULL
              AND (k.id IS NULL OR {LiveConsole.CaseAccess.VisibleCondition})
              AND (coalesce(t.language_code, k.language_code) IS NULL
                   OR coalesce(t.language_code, k.language_code) IN (SELECT language_code FROM staff_languages WHERE staff_id = @staffId))
            ORDER BY t.due_at, t.id
            LIMIT 200
            """, new { staffId, seesEverything, team }, cancellationToken: cancellationToken))];

    /// <summary>
    /// Closes an open callback (false when it is closed already), in the caller's transaction: its
    /// clock is met (by the trigger) and, when it is on a complaint, the met clock goes on the timeline.
    /// </summary>
    public static async Task<bool> CloseAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long taskId, int staffId, string how, string? reason, long? noteId,
        DateTimeOffset at, CancellationToken cancellationToken)
    {
        var closed = await connection.QuerySingleOrDefaultAsync<(long Id, long? ComplaintId, string? LanguageCode)?>(new CommandDefinition("""
            UPDATE callback_tasks SET done_at = @at, done_by = @staffId, closed_how = @how, closed_reason = @reason, closed_note_id = @noteId
            WHERE id = @taskId AND done_at IS NULL
            RETURNING id, complaint_id, language_code
            """, new { taskId, staffId, how, reason, noteId, at }, transaction, cancellationToken: cancellationToken));
        if (closed is not { } task)
        {
            return false;
        }
        if (task.ComplaintId is { } complaintId)
        {
            await Deadlines.ComplaintClocks.RecordCallbackMetAsync(connection, transaction, complaintId, taskId, staffId, cancellationToken);
        }
        await AnnounceAsync(connection, transaction, taskId, task.ComplaintId, task.LanguageCode, "closed", cancellationToken);
        return true;
    }

    /// <summary>Tells the consoles of the callback's language that their list changed (owed, calling, closed).</summary>
    public static async Task AnnounceAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long taskId, long? complaintId, string? languageCode, string change,
        CancellationToken cancellationToken)
    {
        await ConsoleEvents.AppendAsync(connection, transaction, ChangedEvent, languageCode is null ? Audience.All : Audience.Language(languageCode),
            complaintId, new { callbackId = taskId, complaintId, change }, cancellationToken);
    }

    /// <summary>Appends a timeline entry when the callback is on a complaint.</summary>
    internal static Task TimelineAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long? complaintId, TimelineActor actor, int? staffId, string kind,
        object details, CancellationToken cancellationToken) =>
        complaintId is { } id
            ? Timeline.AppendAsync(connection, transaction, id, actor, staffId, kind, details, cancellationToken)
            : Task.CompletedTask;
}
