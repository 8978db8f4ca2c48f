using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace WsrHotline.Twilio.Tests;

/// <summary>
/// A real HTTP server on a free loopback port standing in for api.twilio.com. It records every request
/// and lets each test decide the answer, given the 1-based number of the request.
/// </summary>
internal sealed class FakeTwilioApi : IAsyncDisposable
{
    private readonly WebApplication app;

    private FakeTwilioApi(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static async Task<FakeTwilioApi> StartAsync(Func<HttpContext, int, Task> respond)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();

        FakeTwilioApi? api = null;
        var count = 0;
        app.Run(async context =>
        {
            var form = context.Request.HasFormContentType
                ? (await context.Request.ReadFormAsync()).SelectMany(f => f.Value.Select(v => KeyValuePair.Create(f.Key, v ?? ""))).ToList()
                : [];
            api!.Requests.Enqueue(new RecordedRequest(
                context.Request.Method,
                context.Request.Path.Value ?? "",
                context.Request.Host.Host,
                context.Request.Headers.Authorization.ToString(),
                form));
            await respond(context, Interlocked.Increment(ref count));
        });

        await app.StartAsync();
        api = new FakeTwilioApi(app, new Uri(app.Urls.Single()));
        return api;
    }

    public static Task Json(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

internal sealed record RecordedRequest(
    string Method,
    string Path,
    string Host,
    string Authorization,
    List<KeyValuePair<string, string>> Form)
{
    public string? Field(string name) => Form.SingleOrDefault(f => f.Key == name).Value;

    public List<string> Fields(string name) => Form.Where(f => f.Key == name).Select(f => f.Value).ToList();
}
