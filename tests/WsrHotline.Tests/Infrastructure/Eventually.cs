namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// Waits for something the app does on its own time, instead of sleeping a fixed while: polls the
/// condition until it holds, and fails with what never happened once the patience runs out.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? Patience);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Never happened within {(patience ?? Patience).TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }
}
