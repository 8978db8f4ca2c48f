namespace WsrHotline.Database;

/// <summary>
/// What the start-up step has done so far. The app answers webhooks from its first second (voice
/// calls must be answered even while the database is down); readiness waits for this.
/// </summary>
public sealed class StartupState
{
    private readonly TaskCompletionSource _migrated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Migrated => _migrated.Task.IsCompleted;

    /// <summary>Completes when the start-up step has succeeded (what waits for it: the job server).</summary>
    public Task WhenMigrated => _migrated.Task;

    public string? LastError { get; private set; }

    internal void MarkMigrated()
    {
        LastError = null;
        _migrated.TrySetResult();
    }

    internal void MarkFailed(string error) => LastError = error;
}
