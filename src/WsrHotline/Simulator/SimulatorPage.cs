using System.Reflection;

namespace WsrHotline.Simulator;

/// <summary>
/// Serves the simulator page from resources embedded in the app, not from wwwroot: it then exists only
/// where <see cref="SimulatorExtensions.MapVoiceSimulator"/> maps it, whatever static-file middleware
/// the app adds later.
/// </summary>
internal static class SimulatorPage
{
    private static readonly Dictionary<string, string> Files = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["simulator.js"] = "text/javascript; charset=utf-8",
        ["simulator.css"] = "text/css; charset=utf-8",
    };

    public static void Map(RouteGroupBuilder simulator)
    {
        // Routing treats /simulator and /simulator/ alike; the page links its files by absolute path.
        simulator.MapGet("/", (HttpContext context) => Serve(context, "index.html"));
        simulator.MapGet("/{file}", (string file, HttpContext context) => Serve(context, file));
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Files.TryGetValue(file, out var contentType)
            || Assembly.GetExecutingAssembly().GetManifestResourceStream($"WsrHotline.Simulator.Page.{file}") is not { } stream)
        {
            return Results.NotFound();
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'self'; media-src 'self' http: https:; frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-store";
        return Results.Stream(stream, contentType);
    }
}
