using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.Pii;
using WsrHotline.Staff;
using WsrHotline.Voice;

namespace WsrHotline.LiveConsole;

/// <summary>
/// Voicemails and callbacks in the console, under <c>/console/api</c>: a case's recordings and their
/// audio (each play on the timeline), the callback list, closing a callback by hand, and "Call back".
/// </summary>
public static class VoicemailAndCallbacksApi
{
    public sealed record CallbackList(DateTimeOffset Now, CallbackItem[] Callbacks);

    public sealed record CloseInput(string? Reason, string? Note);

    public sealed record CallbackStarted(long AttemptId, string Message);


    public static RouteGroupBuilder MapVoicemailAndCallbacks(this RouteGroupBuilder api)
    {
        api.MapGet("/complaints/{id:long}/recordings", RecordingsAsync);
        api.MapGet("/recordings/{id:long}", PlayAsync);
        api.MapGet("/callbacks", CallbacksAsync);
        api.MapPost("/callbacks/{id:long}/close", CloseAsync);
        api.MapPost("/callbacks/{id:long}/call", CallBackAsync);
        return api;
    }

    private static async Task<Results<Ok<RecordingItem[]>, NotFound, ForbidHttpResult>> RecordingsAsync(long id, HttpContext http,
        NpgsqlDataSource dataSource, RecordingStore recordings, CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (await CaseAccess.CheckAsync(connection, http.User, id, cancellationToken) is not { } access)
            {
                return TypedResults.NotFound();
            }
            if (!access.Allowed)
            {
                return TypedResults.Forbid();
            }
        }
        return TypedResults.Ok(await recordings.ForComplaintAsync(id, cancellationToken));
    }

    /// <summary>
    /// A voicemail's audio, decrypted, for a staff member who may open its case; never cached. A play
    /// is audited before a byte is served (timeline <c>voicemail.played</c>: who and when, the
    /// recording's id): a request from the start of the file is a play, a range further on (a seek)
    /// is the same play.
    /// </summary>
    private static async Task<IResult> PlayAsync(long id, HttpContext http, NpgsqlDataSource dataSource, RecordingStore recordings,
        CancellationToken cancellationToken)
    {
        if (await recordings.ComplaintOfAsync(id, cancellationToken) is not { } complaintId)
        {
            return Results.NotFound();
        }
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (await CaseAccess.CheckAsync(connection, http.User, complaintId, cancellationToken) is not { Allowed: true })
            {
                return Results.Forbid();
            }
            if (await recordings.OpenDecryptedAsync(id, cancellationToken) is not { } audio)
            {
                return Results.Problem("This voicemail is not in the hotline's storage yet.", statusCode: StatusCodes.Status404NotFound);
            }
            if (IsFromStart(http.Request))
            {
                await Timeline.AppendAsync(connection, null, complaintId, TimelineActor.Staff, http.User.StaffId(), "voicemail.played",
                    new { recording_id = id }, cancellationToken);
            }
            http.Response.Headers.CacheControl = "no-store";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.File(audio.Content, audio.ContentType, enableRangeProcessing: true);
        }
    }

    private static bool IsFromStart(HttpRequest request)
    {
        var range = request.GetTypedHeaders().Range;
        return range is null || range.Ranges.Count == 0 || range.Ranges.Any(r => r.From is null or 0);
    }

    private static async Task<Ok<CallbackList>> CallbacksAsync(HttpContext http, NpgsqlDataSource dataSource, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var user = http.User;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var items = await CallbackTasks.OpenForAsync(connection, user.StaffId(), user.SeesEverything(), user.Team(), cancellationToken);
        return TypedResults.Ok(new CallbackList(time.GetUtcNow(), items));
    }

    /// <summary>
    /// Closes a callback by hand (the worker was reached another way): a reason from
    /// <see cref="CallbackTasks.HandReasons"/> is required ('other' needs a note); a note is kept as an
    /// encrypted case note. The task's clock is met, on the timeline.
    /// </summary>
    private static async Task<Results<NoContent, NotFound, ForbidHttpResult, ProblemHttpResult>> CloseAsync(long id, CloseInput input, HttpContext http,
        NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time, CancellationToken cancellationToken)
    {
        var reason = input.Reason?.Trim() ?? "";
        var note = string.IsNullOrWhiteSpace(input.Note) ? null : input.Note.Trim();
        if (!CallbackTasks.HandReasons.Contains(reason))
        {
            return TypedResults.Problem($"Closing a callback by hand needs a reason: one of {string.Join(", ", CallbackTasks.HandReasons)}.",
                statusCode: StatusCodes.Status400BadRequest);
        }
        if (reason == "other" && note is null)
        {
            return TypedResults.Problem("Say in a note how the worker was reached.", statusCode: StatusCodes.Status400BadRequest);
        }
        if (note is { Length: > CaseWork.MaxNoteLength })
        {
            return TypedResults.Problem($"A note has at most {CaseWork.MaxNoteLength:N0} characters.", statusCode: StatusCodes.Status400BadRequest);
        }

        long? complaintId;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            var task = await connection.QuerySingleOrDefaultAsync<(long Id, long? ComplaintId)?>(new CommandDefinition(
                "SELECT id, complaint_id FROM callback_tasks WHERE id = @id", new { id }, cancellationToken: cancellationToken));
            if (task is null)
            {
                return TypedResults.NotFound();
            }
            complaintId = task.Value.ComplaintId;
        }

        if (complaintId is not { } caseId)
        {
            // A caller who hung up in the menu has no case: nothing to note it on.
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var closed = await CallbackTasks.CloseAsync(connection, transaction, id, http.User.StaffId(), "by_hand", reason, null, time.GetUtcNow(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return closed ? TypedResults.NoContent() : AlreadyClosed();
        }

        var refusal = await CaseChange.RunAsync(dataSource, http.User, caseId, time, async change =>
        {
            long? noteId = note is null ? null : await CaseWork.AddNoteRowAsync(change, pii, "note", note);
            if (!await CallbackTasks.CloseAsync(change.Connection, change.Transaction, id, change.StaffId, "by_hand", reason, noteId, change.Now,
                    change.CancellationToken))
            {
                return AlreadyClosed();
            }
            await change.RecordAsync("callback.closed", new { callback_id = id, reason, note_id = noteId, note_length = note?.Length }, "callback", reason);
            return null;
        }, cancellationToken);
        return refusal is null ? TypedResults.NoContent() : refusal;
    }

    private static ProblemHttpResult AlreadyClosed() =>
        TypedResults.Problem("This callback is closed already.", statusCode: StatusCodes.Status409Conflict);

    private static async Task<Results<Ok<CallbackStarted>, ProblemHttpResult>> CallBackAsync(long id, HttpContext http, CallingBack calling,
        CancellationToken cancellationToken)
    {
        var start = await calling.StartAsync(id, http.User, http.Request, cancellationToken);
        return start.Started
            ? TypedResults.Ok(new CallbackStarted(start.AttemptId!.Value, start.Message))
            : TypedResults.Problem(start.Message, statusCode: start.Status);
    }
}
