using Hangfire.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using HangfireLogLevel = Hangfire.Logging.LogLevel;

namespace WsrHotline.Jobs;

/// <summary>
/// Hangfire's log messages through the host's <see cref="ILoggerFactory"/>. Hangfire keeps one log
/// provider for the whole process and its components take their logger when they are built; a
/// component built after the host's logger factory was disposed (at shutdown, or in a process that
/// runs several hosts one after the other, as the tests do) gets a logger that says nothing,
/// instead of an <see cref="ObjectDisposedException"/> that would fail the job or the enqueue.
/// </summary>
public sealed class HangfireLogging(ILoggerFactory loggerFactory) : ILogProvider
{
    public ILog GetLogger(string name)
    {
        try
        {
            return new HostLog(loggerFactory.CreateLogger(name));
        }
#pragma warning disable CA1031 // A log that cannot be written never stops Hangfire's work.
        catch (Exception)
        {
            return new HostLog(null);
        }
#pragma warning restore CA1031
    }

    private sealed class HostLog(ILogger? logger) : ILog
    {
        public bool Log(HangfireLogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            var level = logLevel switch
            {
                HangfireLogLevel.Trace => LogLevel.Trace,
                HangfireLogLevel.Debug => LogLevel.Debug,
                HangfireLogLevel.Info => LogLevel.Information,
                HangfireLogLevel.Warn => LogLevel.Warning,
                HangfireLogLevel.Error => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (logger is null)
            {
                return false;
            }
            try
            {
                if (messageFunc is null)
                {
                    return logger.IsEnabled(level);
                }
                if (logger.IsEnabled(level))
                {
                    // The text as it is, never parsed as a message template (Hangfire's texts hold braces).
                    logger.Log(level, default, messageFunc(), exception, static (text, _) => text);
                }
                return true;
            }
#pragma warning disable CA1031 // A log that cannot be written never stops Hangfire's work.
            catch (Exception)
            {
                return false;
            }
#pragma warning restore CA1031
        }
    }
}
