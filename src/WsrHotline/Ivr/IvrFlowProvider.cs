using Microsoft.Extensions.Options;

namespace WsrHotline.Ivr;

/// <summary>
/// The live IVR flow. Loaded when the app starts (an invalid folder stops the start, with every
/// problem in the message); with <see cref="IvrOptions.ReloadOnChange"/>, reloaded shortly after any
/// file in the folder changes, so rewording a prompt or dropping in a recording needs no restart.
/// An invalid edit is refused and logged, and calls go on with the previous flow.
/// </summary>
public sealed partial class IvrFlowProvider : IHostedService, IDisposable
{
    // Editors and copies write a file in several steps; wait for the burst of events to settle.
    private static readonly TimeSpan DebounceDelay = TimeSpan.FromMilliseconds(400);

    private readonly ILogger<IvrFlowProvider> logger;
    private readonly TimeProvider time;
    private readonly bool reloadOnChange;
    private readonly Lock reloadLock = new();
    private IvrFlow current;
    private FileSystemWatcher? watcher;
    private ITimer? debounce;

    public IvrFlowProvider(IOptions<IvrOptions> options, IHostEnvironment environment, TimeProvider time, ILogger<IvrFlowProvider> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        this.logger = logger;
        this.time = time;
        reloadOnChange = options.Value.ReloadOnChange;
        FlowsPath = options.Value.ResolveFlowsPath(environment.ContentRootPath);
        current = IvrFlowLoader.Load(FlowsPath);
        LogLoaded(logger, FlowsPath, current.Languages.Count, current.Steps.Count);
    }

    /// <summary>The full path of the flows folder.</summary>
    public string FlowsPath { get; }

    /// <summary>The flow to use for the next thing a call does. Take it once per request: it may change between requests.</summary>
    public IvrFlow Current => Volatile.Read(ref current);

    /// <summary>Reads the folder again; keeps the current flow (and logs why) when the new one is invalid.</summary>
    /// <returns>Whether the new flow is now current.</returns>
    public bool Reload()
    {
        lock (reloadLock)
        {
            try
            {
                Volatile.Write(ref current, IvrFlowLoader.Load(FlowsPath));
                LogReloaded(logger, FlowsPath);
                return true;
            }
            catch (IvrFlowException ex)
            {
                LogReloadRefused(logger, ex.Message);
                return false;
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (reloadOnChange)
        {
            StartWatching();
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        StopWatching();
        return Task.CompletedTask;
    }

    public void Dispose() => StopWatching();

    private void StartWatching()
    {
        debounce = time.CreateTimer(_ => ReloadAfterChange(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            watcher = new FileSystemWatcher(FlowsPath)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            watcher.Changed += OnChanged;
            watcher.Created += OnChanged;
            watcher.Deleted += OnChanged;
            watcher.Renamed += OnChanged;
            watcher.Error += OnWatcherError;
            watcher.EnableRaisingEvents = true;
        }
        catch (IOException ex)
        {
            // E.g. the inotify instance limit. The flow itself is valid: keep answering calls with it.
            LogWatchUnavailable(logger, FlowsPath, ex.Message);
            watcher?.Dispose();
            watcher = null;
        }
    }

    private void StopWatching()
    {
        watcher?.Dispose();
        watcher = null;
        debounce?.Dispose();
        debounce = null;
    }

    private void OnChanged(object sender, FileSystemEventArgs e) => ScheduleReload();

    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        // Events were lost (buffer overflow): the folder may have changed, so read it again.
        LogWatchError(logger, e.GetException().Message);
        ScheduleReload();
    }

    /// <summary>(Re)starts the quiet period; the reload runs once events stop for <see cref="DebounceDelay"/>.</summary>
    private void ScheduleReload()
    {
        try
        {
            debounce?.Change(DebounceDelay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // A last file event racing with shutdown: there is nothing left to reload for.
        }
    }

    private void ReloadAfterChange()
    {
        // Reload() turns every problem with the files into a refusal; this catches a bug in the loader,
        // because an exception on a timer thread would kill the process and every call in progress.
        try
        {
            Reload();
        }
        catch (Exception ex)
        {
            LogReloadFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "IVR flow loaded from {FlowsPath}: {Languages} languages, {Steps} steps")]
    private static partial void LogLoaded(ILogger logger, string flowsPath, int languages, int steps);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "IVR flow reloaded from {FlowsPath} after a change")]
    private static partial void LogReloaded(ILogger logger, string flowsPath);

    // The flows hold prompts and file names only, never anything about a caller: the problems can be logged.
    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "IVR flow change refused; calls keep the previous flow. {Problems}")]
    private static partial void LogReloadRefused(ILogger logger, string problems);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "IVR flow reload failed unexpectedly; calls keep the previous flow")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Cannot watch {FlowsPath} for changes ({Error}); IVR flow edits need a restart")]
    private static partial void LogWatchUnavailable(ILogger logger, string flowsPath, string error);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "IVR flows folder watcher lost events ({Error}); reloading")]
    private static partial void LogWatchError(ILogger logger, string error);
}
