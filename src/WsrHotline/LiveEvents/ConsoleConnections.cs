using System.Collections.Concurrent;
using System.Security.Claims;

namespace WsrHotline.LiveEvents;

/// <summary>
/// This instance's open console connections: who is signed in on each and the groups it is in. The
/// relay uses it for events of a restricted case, which go only to the connections of their audience
/// whose staff member may open that case (<see cref="LiveConsole.CaseAccess.CanOpen"/>), never to the
/// whole group. A connection that is not listed here gets no such event.
/// </summary>
public sealed class ConsoleConnections
{
    private sealed record Entry(ClaimsPrincipal User, IReadOnlySet<string> Groups);

    private readonly ConcurrentDictionary<string, Entry> _open = new(StringComparer.Ordinal);

    public void Set(string connectionId, ClaimsPrincipal user, IEnumerable<string> groups) =>
        _open[connectionId] = new Entry(user, new HashSet<string>(groups, StringComparer.Ordinal));

    public void Remove(string connectionId) => _open.TryRemove(connectionId, out _);

    /// <summary>The connections in <paramref name="audience"/> whose staff member passes <paramref name="allowed"/>.</summary>
    public IReadOnlyList<string> InAudience(string audience, Func<ClaimsPrincipal, bool> allowed) =>
        [.. _open.Where(c => c.Value.Groups.Contains(audience) && allowed(c.Value.User)).Select(c => c.Key)];
}
