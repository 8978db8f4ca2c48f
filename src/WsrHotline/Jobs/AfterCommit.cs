namespace WsrHotline.Jobs;

/// <summary>
/// Enqueues the jobs of work a transaction has just committed. Their rows are already safe: when the
/// enqueue fails (the database went away between the commit and the enqueue), it is logged and the
/// recurring <c>forgotten-work</c> job enqueues them within a couple of minutes. It never fails the caller.
/// </summary>
public static partial class AfterCommit
{
    public static void Enqueue(ILogger logger, string work, Action enqueue)
    {
        ArgumentNullException.ThrowIfNull(enqueue);
        try
        {
            enqueue();
        }
        catch (Exception ex)
        {
            LogEnqueueFailed(logger, work, ex.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 9003, Level = LogLevel.Warning, Message = "Jobs for {Work} not enqueued ({Error}); the forgotten-work job enqueues them")]
    private static partial void LogEnqueueFailed(ILogger logger, string work, string error);
}
