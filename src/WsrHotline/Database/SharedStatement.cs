using System.Collections.Concurrent;
using Npgsql;

namespace WsrHotline.Database;

/// <summary>
/// One statement and one commit for many concurrent requests: each request's item waits for its own
/// row to be committed (nothing is answered before it is durable), but the items that arrive while a
/// write is in flight share the next statement instead of paying one each. An idle hotline writes at
/// once (no waiting to fill a batch); a busy one writes up to <see cref="MaxBatch"/> items at a time.
/// </summary>
/// <remarks>
/// Items are keyed (a CallSid, a MessageSid): two items with one key never share a statement, the second goes
/// after. A statement PostgreSQL refuses is retried item by item, so one item's fault does not
/// become its neighbours'; any other failure fails the items of that statement only. Requests are
/// completed with <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/>: a request never
/// carries on on the writer's thread.
/// </remarks>
/// <param name="writeTogether">Writes the batch in one statement and returns the results by key (a key missing: null).</param>
/// <param name="keyOf">The item's key.</param>
public sealed class SharedStatement<TItem, TResult>(
    Func<IReadOnlyList<TItem>, Task<IReadOnlyDictionary<string, TResult>>> writeTogether,
    Func<TItem, string> keyOf)
    where TResult : class
{
    /// <summary>Statements in flight at once: a few, so one's round trip overlaps another's work.</summary>
    private const int MaxWriters = 4;
    private const int MaxBatch = 64;

    private readonly ConcurrentQueue<Pending> _pending = new();
    private int _writers;

    private sealed class Pending(TItem item, CancellationToken cancellation)
    {
        public TItem Item => item;

        public CancellationToken Cancellation => cancellation;

        public TaskCompletionSource<TResult?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Writes the item (with whatever else is waiting) and returns its result once committed. The
    /// cancellation bounds the wait; an item whose request gave up before its statement started is
    /// not written.
    /// </summary>
    public Task<TResult?> RunAsync(TItem item, CancellationToken cancellationToken)
    {
        var pending = new Pending(item, cancellationToken);
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
        // The request's budget bounds its wait; a statement already started carries on for the others.
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
                if (pending.Cancellation.IsCancellationRequested)
                {
                    // Its request has answered already (its budget ran out): nothing waits for this row.
                    pending.Done.TrySetCanceled(pending.Cancellation);
                    continue;
                }
                // Two items of one key (a retried webhook) never share a statement: the second goes after.
                (keys.Add(keyOf(pending.Item)) ? batch : again).Add(pending);
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
            await WriteAsync(batch);
            foreach (var pending in again)
            {
                await WriteAsync([pending]);
            }
        }
    }

    private async Task WriteAsync(List<Pending> batch)
    {
        try
        {
            var written = await writeTogether(batch.ConvertAll(pending => pending.Item));
            foreach (var pending in batch)
            {
                pending.Done.TrySetResult(written.GetValueOrDefault(keyOf(pending.Item)));
            }
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // PostgreSQL refused the statement: one item's fault must not become the others'.
            foreach (var pending in batch)
            {
                await WriteAsync([pending]);
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
