namespace WsrHotline.Simulator;

/// <summary>
/// The simulator's clock and scheduler. Every call leg runs as its own async "coroutine"; a leg that
/// waits (a Say being spoken, a phone ringing, a caller in a queue) blocks here instead of sleeping.
/// Time moves only when every leg is blocked, and then straight to the next timer: a 30-minute queue
/// wait takes milliseconds, and the same steps always give the same result.
/// </summary>
internal sealed class VirtualTime
{
    private readonly Lock gate = new();
    private readonly PriorityQueue<Timer, (TimeSpan Due, long Sequence)> timers = new();
    private long sequence;

    // Legs currently executing (not blocked on virtual time or a signal). Real HTTP to the app keeps a
    // leg "running", so the clock cannot move while the app is still answering a webhook.
    private int running;
    private TaskCompletionSource? quiet;

    public TimeSpan Now
    {
        get
        {
            lock (gate)
            {
                return now;
            }
        }
    }

    private TimeSpan now;

    /// <summary>Starts a leg's coroutine; it counts as running until it blocks or ends.</summary>
    public void Start(Func<Task> body, Action<Exception> onFault)
    {
        lock (gate)
        {
            running++;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await body();
            }
#pragma warning disable CA1031 // A bug in one leg must end that leg and be reported, not hang the clock.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                onFault(exception);
            }
            finally
            {
                lock (gate)
                {
                    DecrementRunning();
                }
            }
        });
    }

    /// <summary>
    /// Blocks the calling leg until it is signalled (returns false) or, when a timeout is given, until
    /// that much virtual time has passed (returns true). A signal sent while the leg was busy is kept
    /// and makes the next block return at once.
    /// </summary>
    public Task<bool> BlockAsync(Mailbox mailbox, TimeSpan? timeout)
    {
        lock (gate)
        {
            if (mailbox.SignalPending)
            {
                mailbox.SignalPending = false;
                return Task.FromResult(false);
            }

            var timer = new Timer(mailbox, null);
            mailbox.Blocked = timer;
            if (timeout is { } delay)
            {
                timers.Enqueue(timer, (now + (delay < TimeSpan.Zero ? TimeSpan.Zero : delay), sequence++));
            }

            DecrementRunning();
            return timer.Completion.Task;
        }
    }

    /// <summary>Wakes a blocked leg, or leaves a note for it if it is busy.</summary>
    public void Signal(Mailbox mailbox)
    {
        lock (gate)
        {
            if (mailbox.Blocked is { } timer)
            {
                mailbox.Blocked = null;
                timer.Done = true;
                running++;
                timer.Completion.SetResult(false);
            }
            else
            {
                mailbox.SignalPending = true;
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> (which may only signal legs) once <paramref name="delay"/> has passed.</summary>
    public void Schedule(TimeSpan delay, Action action) => ScheduleCancellable(delay, action);

    /// <summary>As <see cref="Schedule"/>; disposing the result takes the timer off the clock (it no longer moves time).</summary>
    public IDisposable ScheduleCancellable(TimeSpan delay, Action action)
    {
        var timer = new Timer(null, action);
        lock (gate)
        {
            timers.Enqueue(timer, (now + delay, sequence++));
        }

        return new Cancellation(this, timer);
    }

    private sealed class Cancellation(VirtualTime time, Timer timer) : IDisposable
    {
        public void Dispose()
        {
            lock (time.gate)
            {
                timer.Done = true;
            }
        }
    }

    /// <summary>Completes when no leg is running.</summary>
    public Task WhenQuietAsync()
    {
        lock (gate)
        {
            if (running == 0)
            {
                return Task.CompletedTask;
            }

            quiet ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return quiet.Task;
        }
    }

    /// <summary>
    /// Moves the clock to the next timer not later than <paramref name="deadline"/> and fires it
    /// (true). Without such a timer, moves the clock to the deadline and returns false.
    /// </summary>
    public bool FireNextTimer(TimeSpan? deadline)
    {
        Action? action = null;
        lock (gate)
        {
            while (timers.TryPeek(out var timer, out var key))
            {
                if (timer.Done)
                {
                    timers.Dequeue();
                    continue;
                }

                if (deadline is { } limit && key.Due > limit)
                {
                    break;
                }

                timers.Dequeue();
                timer.Done = true;
                if (key.Due > now)
                {
                    now = key.Due;
                }

                if (timer.Owner is { } owner)
                {
                    owner.Blocked = null;
                    running++;
                    timer.Completion.SetResult(true);
                    return true;
                }

                action = timer.Action;
                break;
            }

            if (action is null)
            {
                if (deadline is { } end && end > now)
                {
                    now = end;
                }

                return false;
            }
        }

        // Outside the lock: the action signals legs, which takes the lock again.
        action!();
        return true;
    }

    private void DecrementRunning()
    {
        running--;
        if (running == 0 && quiet is { } waiting)
        {
            quiet = null;
            waiting.SetResult();
        }
    }

    /// <summary>A leg's place to be woken: one outstanding block at a time (a leg is sequential).</summary>
    internal sealed class Mailbox
    {
        public bool SignalPending { get; set; }

        public Timer? Blocked { get; set; }
    }

    internal sealed class Timer(Mailbox? owner, Action? action)
    {
        public Mailbox? Owner { get; } = owner;

        public Action? Action { get; } = action;

        public bool Done { get; set; }

        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
