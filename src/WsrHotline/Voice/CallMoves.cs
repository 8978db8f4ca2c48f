using System.Collections.Concurrent;
using Dapper;
using Npgsql;

namespace WsrHotline.Voice;

/// <summary>
/// The IVR's stage moves, written together: each webhook's move waits for its own row to be
/// committed (nothing is answered before it is durable), but the moves that arrive while a write is
/// in flight share the next statement and commit instead of paying one each. An idle hotline writes
/// at once (no waiting to fill a batch); a busy one writes up to <see cref="MaxBatch"/> at a time.
/// </summary>
public sealed class CallMoves(NpgsqlDataSource dataSource)
{
    /// <summary>Statements in flight at once: a few, so one's round trip overlaps another's work.</summary>
    private const int MaxWriters = 4;
    private const int MaxBatch = 64;

    private readonly ConcurrentQueue<PendingMove> _pending = new();
    private int _writers;

    private sealed record PendingMove(string CallSid, string Stage, string? LanguageCode)
    {
        public TaskCompletionSource<CallRow?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Moves the caller to an IVR step (and, when given, a language the worker's identity then
    /// prefers) and returns the call once that is committed; null for a CallSid never seen.
    /// </summary>
    public Task<CallRow?> MoveAsync(string callSid, string stage, string? languageCode, CancellationToken cancellationToken)
    {
        var move = new PendingMove(callSid, stage, languageCode);
        _pending.Enqueue(move);
        if (Interlocked.Increment(ref _writers) <= MaxWriters)
        {
            // Started on this thread (no hop through the thread pool): it returns at its first await.
            _ = WriteAllAsync();
        }
        else
        {
            Interlocked.Decrement(ref _writers);
        }
        // The request's budget bounds its wait; the shared statement carries on for the others.
        return move.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAllAsync()
    {
        var batch = new List<PendingMove>(MaxBatch);
        var again = new List<PendingMove>();
        while (true)
        {
            batch.Clear();
            again.Clear();
            var sids = new HashSet<string>(StringComparer.Ordinal);
            while (batch.Count < MaxBatch && _pending.TryDequeue(out var move))
            {
                // Two moves of one call (a retried webhook) never share a statement: the second goes after.
                (sids.Add(move.CallSid) ? batch : again).Add(move);
            }
            if (batch.Count == 0)
            {
                Interlocked.Decrement(ref _writers);
                // A move queued while this writer was leaving must not wait for the next one.
                if (_pending.IsEmpty)
                {
                    return;
                }
                if (Interlocked.Increment(ref _writers) > MaxWriters)
                {
                    Interlocked.Decrement(ref _writers);
                    return;
                }
                continue;
            }
            await WriteAsync(batch);
            foreach (var move in again)
            {
                await WriteAsync([move]);
            }
        }
    }

    private async Task WriteAsync(List<PendingMove> batch)
    {
        try
        {
            var moved = await MoveTogetherAsync(batch);
            foreach (var move in batch)
            {
                move.Done.TrySetResult(moved.GetValueOrDefault(move.CallSid));
            }
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // PostgreSQL refused the statement: one move's fault must not become the others'.
            foreach (var move in batch)
            {
                await WriteAsync([move]);
            }
        }
        catch (Exception ex)
        {
            foreach (var move in batch)
            {
                move.Done.TrySetException(ex);
            }
        }
    }

    private async Task<Dictionary<string, CallRow>> MoveTogetherAsync(List<PendingMove> batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<CallRow>(new CommandDefinition($"""
            WITH input AS (
                SELECT * FROM unnest(@callSids::text[], @stages::text[], @languageCodes::text[]) AS i(sid, new_stage, new_language)
            ), moved AS (
                UPDATE calls SET stage = input.new_stage, language_code = coalesce(input.new_language, calls.language_code)
                FROM input WHERE calls.call_sid = input.sid
                RETURNING calls.*, input.new_language
            ), preference AS (
                UPDATE caller_identities SET preferred_language = moved.new_language
                FROM moved
                WHERE moved.new_language IS NOT NULL AND caller_identities.id = moved.caller_identity_id
                  AND caller_identities.preferred_language IS DISTINCT FROM moved.new_language
            )
            SELECT {CallStore.CallColumns} FROM moved
            """,
            new
            {
                callSids = batch.Select(move => move.CallSid).ToArray(),
                stages = batch.Select(move => move.Stage).ToArray(),
                languageCodes = batch.Select(move => move.LanguageCode).ToArray(),
            }));
        return rows.ToDictionary(row => row.CallSid, StringComparer.Ordinal);
    }
}
