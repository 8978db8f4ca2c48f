using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace WsrHotline.Tests.Faults;

/// <summary>A message Twilio's Messages API was asked to send, and the instance that asked.</summary>
public sealed record PostedMessage(string Instance, string Sid, string To, string? Body);

/// <summary>
/// A loopback stand-in for Twilio's REST API. Each instance gets its own base address
/// (<see cref="BaseUrlFor"/>), so the stand-in knows who posted. Every POST to Messages.json is recorded
/// as soon as its form is read (from then on Twilio has it, whatever happens to the connection), then
/// answered 201 with a sid, unless the instance's posts are held (<see cref="Hold"/>): then the answer
/// waits until <see cref="ReleaseAll"/>, so a kill can land while a reply is in flight.
/// </summary>
public sealed class TwilioStandIn : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> holds = new();
    private readonly ConcurrentDictionary<string, int> heldCount = new();
    private int counter;

    private TwilioStandIn(WebApplication app) => this.app = app;

    /// <summary>Every message posted, in arrival order.</summary>
    public ConcurrentQueue<PostedMessage> Messages { get; } = new();

    /// <summary>Voicemail copies: the audio fetched (GET Recordings/RE….wav) and Twilio's copy deleted (DELETE Recordings/RE….json).</summary>
    public ConcurrentQueue<string> Recordings { get; } = new();

    /// <summary>Requests for anything but Messages.json and recordings (none are expected).</summary>
    public ConcurrentQueue<string> Unexpected { get; } = new();

    public string BaseUrl => app.Urls.Single();

    public string BaseUrlFor(string instance) => $"{BaseUrl.TrimEnd('/')}/{instance}";

    public static async Task<TwilioStandIn> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var standIn = new TwilioStandIn(app);
        app.Run(standIn.HandleAsync);
        await app.StartAsync();
        return standIn;
    }

    /// <summary>From now on, answers to this instance's posts wait (they are still recorded).</summary>
    public void Hold(string instance) => holds.TryAdd(instance, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>How many of this instance's posts are waiting for their answer.</summary>
    public int Held(string instance) => heldCount.GetValueOrDefault(instance);

    public void ReleaseAll()
    {
        foreach (var instance in holds.Keys.ToList())
        {
            if (holds.TryRemove(instance, out var hold))
            {
                hold.TrySetResult();
            }
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var segments = context.Request.Path.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (segments.Length >= 2 && segments[^2] == "Recordings" && context.Request.Method is "GET" or "DELETE")
        {
            Recordings.Enqueue($"{context.Request.Method} {segments[^1]}");
            if (context.Request.Method == "DELETE")
            {
                context.Response.StatusCode = 204;
                return;
            }
            context.Response.ContentType = "audio/x-wav";
            await context.Response.Body.WriteAsync("RIFF\0\0\0\0WAVE"u8.ToArray());
            return;
        }
        if (context.Request.Method != "POST" || segments.Length == 0 || segments[^1] != "Messages.json")
        {
            Unexpected.Enqueue($"{context.Request.Method} {context.Request.Path}");
            context.Response.StatusCode = 404;
            return;
        }
        var instance = segments[0];
        var form = await context.Request.ReadFormAsync();
        var sid = $"SM{Interlocked.Increment(ref counter):x32}";
        Messages.Enqueue(new PostedMessage(instance, sid, form["To"].ToString(), form["Body"].ToString()));
        if (holds.TryGetValue(instance, out var hold))
        {
            heldCount.AddOrUpdate(instance, 1, (_, n) => n + 1);
            await hold.Task;
            heldCount.AddOrUpdate(instance, 0, (_, n) => n - 1);
        }
        context.Response.StatusCode = 201;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"sid":"{{sid}}","status":"queued","error_code":null}""");
    }

    public async ValueTask DisposeAsync()
    {
        ReleaseAll();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
