namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// Waits for something the app does on its own time, instead of sleeping a fixed while: polls the
/// condition until it holds, and fails with what never happened once the patience runs out. The
/// only fixed waits of the tests are the polls' intervals here.
/// <code>
/// await Eventually.TrueAsync(() => spool.Pending().Count == 0, "the spool replayed", TimeSpan.FromSeconds(30));
/// await Eventually.TrueAsync(async () => await CountAsync() == 2, async () => $"{await CountAsync()} of 2 rows stored");
/// </code>
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(20);

    /// <param name="what">What never happened, for the failure (worked out only then, so it can show the state at the end).</param>
    /// <param name="interval">Between two looks: longer for a look that costs (a query of Hangfire's storage, a process's health).</param>
    public static async Task TrueAsync(Func<Task<bool>> condition, Func<Task<string>> what, TimeSpan? patience = null, TimeSpan? interval = null)
    {
        var within = patience ?? Patience;
        var deadline = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"Never happened within {within.TotalSeconds} s: {await what()}");
            }
            await Task.Delay(interval ?? DefaultInterval);
        }
    }

    public static Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? patience = null, TimeSpan? interval = null) =>
        TrueAsync(condition, () => Task.FromResult(what), patience, interval);

    public static Task TrueAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? patience = null, TimeSpan? interval = null) =>
        TrueAsync(condition, () => Task.FromResult(what()), patience, interval);

    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? patience = null, TimeSpan? interval = null) =>
        TrueAsync(() => Task.FromResult(condition()), () => Task.FromResult(what), patience, interval);

    public static Task TrueAsync(Func<bool> condition, Func<string> what, TimeSpan? patience = null, TimeSpan? interval = null) =>
        TrueAsync(() => Task.FromResult(condition()), () => Task.FromResult(what()), patience, interval);
}
