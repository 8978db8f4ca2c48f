using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Channels;

// Shared by the tests and ops/bench/HotlineBench (linked into both): the .NET SignalR client
// (Microsoft.AspNetCore.SignalR.Client) is not served by the package registry this project builds from.
namespace WsrHotline.Tests.Infrastructure;

/// <summary>A hub method the server called on this client, with the moment its frame arrived (<see cref="System.Diagnostics.Stopwatch"/> ticks).</summary>
public sealed record HubInvocation(string Target, JsonElement Arguments, long ReceivedAt)
{
    /// <summary>The first argument (every <c>IConsoleClient</c> method takes one <c>ConsoleEvent</c>).</summary>
    public JsonElement Event => Arguments[0];
}

/// <summary>
/// A minimal SignalR client speaking the JSON hub protocol over WebSockets: negotiate
/// (<c>POST {hub}/negotiate?negotiateVersion=1</c>), connect with <c>id=connectionToken</c>, handshake
/// <c>{"protocol":"json","version":1}</c>, then JSON records separated by 0x1E: invocations (type 1),
/// completions (3), pings (6, sent every 10 s so the server does not time the client out), close (7).
/// Server-to-client invocations go to the handler given at connect, or else to <see cref="Invocations"/>.
/// </summary>
public sealed class RawSignalRClient : IAsyncDisposable
{
    private const byte RecordSeparator = 0x1E;
    private static readonly TimeSpan PingEvery = TimeSpan.FromSeconds(10);

    private readonly WebSocket socket;
    private readonly Action<HubInvocation>? onInvocation;
    private readonly Channel<HubInvocation> invocations = Channel.CreateUnbounded<HubInvocation>();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim sending = new(1, 1);
    private readonly CancellationTokenSource stopping = new();
    private readonly ArrayBufferWriter<byte> buffered = new();
    private Task receiving = Task.CompletedTask;
    private Task pinging = Task.CompletedTask;
    private int invocationIds;

    private RawSignalRClient(WebSocket socket, Action<HubInvocation>? onInvocation)
    {
        this.socket = socket;
        this.onInvocation = onInvocation;
    }

    /// <summary>Invocations from the server, when no handler was given at connect.</summary>
    public ChannelReader<HubInvocation> Invocations => invocations.Reader;

    /// <summary>Completes when the connection ends (closed by either side or broken).</summary>
    public Task Completion => receiving;

    /// <summary>
    /// Negotiates with <paramref name="http"/> (which carries the sign-in cookie) and opens the
    /// WebSocket with <paramref name="openSocket"/>. A refused negotiation throws
    /// <see cref="HttpRequestException"/> with its status code (401 when signed out).
    /// </summary>
    public static async Task<RawSignalRClient> ConnectAsync(
        HttpClient http, Uri hub, Func<Uri, CancellationToken, Task<WebSocket>> openSocket,
        Action<HubInvocation>? onInvocation = null, CancellationToken cancellationToken = default)
    {
        using var negotiate = await http.PostAsync(new Uri(hub + "/negotiate?negotiateVersion=1"), null, cancellationToken);
        if (!negotiate.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"negotiate answered {(int)negotiate.StatusCode}", null, negotiate.StatusCode);
        }
        using var answer = JsonDocument.Parse(await negotiate.Content.ReadAsStringAsync(cancellationToken));
        var token = answer.RootElement.GetProperty("connectionToken").GetString()!;
        var url = new UriBuilder(hub)
        {
            Scheme = hub.Scheme == Uri.UriSchemeHttps ? "wss" : "ws",
            Query = "id=" + Uri.EscapeDataString(token),
        }.Uri;
        var socket = await openSocket(url, cancellationToken);
        var client = new RawSignalRClient(socket, onInvocation);
        try
        {
            await client.SendRecordAsync("""{"protocol":"json","version":1}""", cancellationToken);
            var handshake = await client.ReadHandshakeAsync(cancellationToken);
            if (handshake.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException("SignalR handshake refused: " + error.GetString());
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        client.receiving = client.ReceiveAsync();
        client.pinging = client.PingAsync();
        return client;
    }

    /// <summary>A <see cref="ClientWebSocket"/> opener that sends the cookies of <paramref name="cookies"/>.</summary>
    public static Func<Uri, CancellationToken, Task<WebSocket>> ClientWebSocketWith(CookieContainer cookies) =>
        async (url, cancellationToken) =>
        {
            var socket = new ClientWebSocket();
            socket.Options.Cookies = cookies;
            socket.Options.KeepAliveInterval = TimeSpan.Zero;
            await socket.ConnectAsync(url, cancellationToken);
            return socket;
        };

    /// <summary>Calls a hub method and returns its result (a <c>HubException</c> becomes an <see cref="InvalidOperationException"/>).</summary>
    public async Task<JsonElement> InvokeAsync(string target, object?[] arguments, CancellationToken cancellationToken = default)
    {
        var id = Interlocked.Increment(ref invocationIds).ToString(CultureInfo.InvariantCulture);
        var completion = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = completion;
        await SendRecordAsync(JsonSerializer.Serialize(new { type = 1, invocationId = id, target, arguments }), cancellationToken);
        using var registration = cancellationToken.Register(() => completion.TrySetCanceled(cancellationToken));
        return await completion.Task;
    }

    /// <summary>The next invocation (from <see cref="Invocations"/>) matching <paramref name="match"/>; the others read on the way are dropped.</summary>
    public async Task<HubInvocation> WaitForAsync(Func<HubInvocation, bool> match, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var invocation = await invocations.Reader.ReadAsync(deadline.Token);
                if (match(invocation))
                {
                    return invocation;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"no matching hub invocation within {timeout.TotalSeconds} s");
        }
    }

    private async Task SendRecordAsync(string json, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\u001e");
        await sending.WaitAsync(cancellationToken);
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        }
        finally
        {
            sending.Release();
        }
    }

    // The handshake answer is the first record; anything after it in the same frames stays buffered.
    private async Task<JsonElement> ReadHandshakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var end = buffered.WrittenSpan.IndexOf(RecordSeparator);
            if (end >= 0)
            {
                using var document = JsonDocument.Parse(buffered.WrittenMemory[..end]);
                var rest = buffered.WrittenSpan[(end + 1)..].ToArray();
                buffered.Clear();
                buffered.Write(rest);
                return document.RootElement.Clone();
            }
            if (!await ReadFrameAsync(cancellationToken))
            {
                throw new InvalidOperationException("The server closed the connection during the SignalR handshake.");
            }
        }
    }

    private async Task<bool> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var result = await socket.ReceiveAsync(buffered.GetMemory(4096), cancellationToken);
        if (result.MessageType == WebSocketMessageType.Close)
        {
            return false;
        }
        buffered.Advance(result.Count);
        return true;
    }

    private async Task ReceiveAsync()
    {
        try
        {
            while (true)
            {
                var receivedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                var start = 0;
                var span = buffered.WrittenMemory;
                int end;
                while ((end = span.Span[start..].IndexOf(RecordSeparator)) >= 0)
                {
                    if (!Dispatch(span.Slice(start, end), receivedAt))
                    {
                        return;
                    }
                    start += end + 1;
                }
                var rest = span[start..].ToArray();
                buffered.Clear();
                buffered.Write(rest);
                if (!await ReadFrameAsync(stopping.Token))
                {
                    return;
                }
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Stopped, or the connection broke: Completion says so.
        }
        finally
        {
            invocations.Writer.TryComplete();
            foreach (var waiting in pending.Values)
            {
                waiting.TrySetException(new InvalidOperationException("The SignalR connection ended."));
            }
        }
    }

    // Returns false on a close message.
    private bool Dispatch(ReadOnlyMemory<byte> record, long receivedAt)
    {
        using var document = JsonDocument.Parse(record);
        var root = document.RootElement;
        switch (root.GetProperty("type").GetInt32())
        {
            case 1:
                var invocation = new HubInvocation(root.GetProperty("target").GetString()!, root.GetProperty("arguments").Clone(), receivedAt);
                if (onInvocation is not null)
                {
                    onInvocation(invocation);
                }
                else
                {
                    invocations.Writer.TryWrite(invocation);
                }
                return true;
            case 3 when pending.TryRemove(root.GetProperty("invocationId").GetString()!, out var completion):
                if (root.TryGetProperty("error", out var error))
                {
                    completion.TrySetException(new InvalidOperationException(error.GetString()));
                }
                else
                {
                    completion.TrySetResult(root.TryGetProperty("result", out var result) ? result.Clone() : default);
                }
                return true;
            case 7:
                return false;
            default:
                return true;
        }
    }

    private async Task PingAsync()
    {
        using var timer = new PeriodicTimer(PingEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping.Token))
            {
                await SendRecordAsync("""{"type":6}""", stopping.Token);
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Stopped, or the connection broke.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                await receiving.WaitAsync(timeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (Exception exception) when (exception is WebSocketException or OperationCanceledException)
            {
                // The other side went first.
            }
        }
        await stopping.CancelAsync();
        await receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await pinging.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        socket.Dispose();
        stopping.Dispose();
        sending.Dispose();
    }
}

/// <summary>Staff sign-in the way a browser does it: fetch the form (antiforgery cookie and token), post it.</summary>
public static partial class StaffSignInForm
{
    /// <summary>
    /// Signs in through <c>/signin</c>; the client's cookie store then holds the sign-in cookie. The
    /// client must not follow redirects: success is the 302 to the console.
    /// </summary>
    public static async Task SignInAsync(HttpClient http, string email, string password, CancellationToken cancellationToken = default)
    {
        var page = await http.GetStringAsync(new Uri("/signin", UriKind.Relative), cancellationToken);
        var field = FormToken().Match(page);
        if (!field.Success)
        {
            throw new InvalidOperationException("The sign-in page has no antiforgery token.");
        }
        using var form = new FormUrlEncodedContent(
        [
            KeyValuePair.Create(WebUtility.HtmlDecode(field.Groups["name"].Value), WebUtility.HtmlDecode(field.Groups["value"].Value)),
            KeyValuePair.Create("email", email),
            KeyValuePair.Create("password", password),
        ]);
        using var response = await http.PostAsync(new Uri("/signin", UriKind.Relative), form, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} answered {(int)response.StatusCode}, not a redirect.");
        }
    }

    [GeneratedRegex("""<input type="hidden" name="(?<name>__RequestVerificationToken[^"]*)" value="(?<value>[^"]*)">""")]
    private static partial Regex FormToken();
}
