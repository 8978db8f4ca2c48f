using System.Collections.Concurrent;
using Npgsql;

namespace WsrHotline.Database;

/// <summary>
/// Writes that arrive together share one statement and one commit ("group commit"): each caller
/// waits for its own item to be committed (nothing is answered before it is durable), but the items
/// that arrive while a write is in flight go together in the next one instead of paying a round trip
/// and a commit each. An idle hotline writes at once (no waiting to fill a batch); a busy one writes
/// up to <see cref="MaxBatch"/> items at a time, with up to <see cref="MaxWriters"/> statements in flight.
/// Used by the IVR's stage moves (<c>Voice.CallMoves</c>) and the messaging inbox (<c>Messaging.Inbox</c>).
/// </summary>
/// <param name="writeAsync">Writes a batch (never two items with the same key) in one transaction; one result per item, in order.</param>
/// <param name="key">Two items with the same key (a retried webhook) never share a statement: the second goes after.</param>
public sealed class GroupCommit<TItem, TResult>(Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> writeAsync, Func<TItem, string> key)
{
    /// <summary>Statements in flight at once: a few, so one's round trip overlaps another's work.</summary>
    public const int MaxWriters = 4;

    public const int MaxBatch = 64;

    private readonly ConcurrentQueue<Pending> _pending = new();
    private int _writers;

    private sealed record Pending(TItem Item)
    {
        // Continuations run on the thread pool, never inline on the writer: a caller's continuation
        // (the rest of its webhook) must not run inside the writer's loop, nor write through it again.
        public TaskCompletionSource<TResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Queues the item and returns its result once its batch is committed (or the write's exception).</summary>
    public Task<TResult> WriteAsync(TItem item, CancellationToken cancellationToken)
    {
        var pending = new Pending(item);
        _pending.Enqueue(pending);
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
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAllAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        var again = new List<Pending>();
        while (true)
        {
            batch.Clear();
            again.Clear();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (batch.Count < MaxBatch && _pending.TryDequeue(out var pending))
            {
                (keys.Add(key(pending.Item)) ? batch : again).Add(pending);
            }
            if (batch.Count == 0)
            {
                Interlocked.Decrement(ref _writers);
                // An item queued while this writer was leaving must not wait for the next one.
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
            await WriteBatchAsync(batch);
            foreach (var pending in again)
            {
                await WriteBatchAsync([pending]);
            }
        }
    }

    private async Task WriteBatchAsync(List<Pending> batch)
    {
        try
        {
            var results = await writeAsync([.. batch.Select(pending => pending.Item)]);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Done.TrySetResult(results[i]);
            }
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // PostgreSQL refused the statement: one item's fault must not become the others'.
            foreach (var pending in batch)
            {
                await WriteBatchAsync([pending]);
            }
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(ex);
            }
        }
    }
}
