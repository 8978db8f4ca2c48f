namespace WsrHotline.Database;

/// <summary>
/// What the start-up step has done so far. The app answers webhooks from its first second (voice
/// calls must be answered even while the database is down); readiness waits for this.
/// </summary>
public sealed class StartupState
{
    private volatile bool _migrated;

    public bool Migrated => _migrated;

    public string? LastError { get; private set; }

    internal void MarkMigrated()
    {
        LastError = null;
        _migrated = true;
    }

    internal void MarkFailed(string error) => LastError = error;
}
