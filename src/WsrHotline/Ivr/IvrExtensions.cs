using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Ivr;

public static class IvrExtensions
{
    /// <summary>Where <see cref="MapIvrAudio"/> serves the flow's recordings; prefix of the audio base URL.</summary>
    public const string AudioPath = "/ivr-audio";

    /// <summary>
    /// The IVR options (section <c>Ivr</c>) and the live flow. The flow is loaded as the app starts:
    /// an invalid flows folder stops the start with every problem listed.
    /// </summary>
    public static IServiceCollection AddIvrFlows(this IServiceCollection services)
    {
        services.AddOptions<IvrOptions>()
            .BindConfiguration("Ivr")
            .Validate(options => !string.IsNullOrWhiteSpace(options.FlowsPath),
                "Ivr:FlowsPath is empty: leave it out to use the ivr-flows folder beside the app, or set it " +
                "(Ivr__FlowsPath) to the folder that holds hotline.yaml.")
            .Validate(options => options.RingSecondsPerTier is >= 5 and <= 120,
                "Ivr:RingSecondsPerTier must be from 5 to 120 seconds (Ivr__RingSecondsPerTier): how long one rota tier rings before the next.")
            .ValidateOnStart();
        services.AddSingleton<IvrFlowProvider>();
        // As a hosted service the provider is created, and the flow loaded and checked, during start-up.
        services.AddHostedService(provider => provider.GetRequiredService<IvrFlowProvider>());
        // The languages table follows the flow's languages (the flow is the source of truth).
        services.AddStartupStep("IVR languages", (provider, ct) =>
            IvrLanguageSync.SyncAsync(provider.GetRequiredService<NpgsqlDataSource>(), provider.GetRequiredService<IvrFlowProvider>().Current, ct));
        return services;
    }

    /// <summary>
    /// <c>GET /ivr-audio/{path}</c>: the recordings the flow plays, for Twilio's &lt;Play&gt;. Anonymous
    /// (Twilio fetches media without credentials; the files hold no PII), and limited to the files the
    /// live flow names.
    /// </summary>
    public static IEndpointRouteBuilder MapIvrAudio(this IEndpointRouteBuilder endpoints)
    {
        var audio = endpoints.MapGroup(AudioPath).AllowAnonymous().ExcludeFromDescription();
        audio.MapGet("/{**path}", ServeAudio).WithName("IvrAudio");
        return endpoints;
    }

    private static Results<PhysicalFileHttpResult, NotFound> ServeAudio(string path, IvrFlowProvider flows, HttpResponse response)
    {
        if (flows.Current.FindAudioFile(path) is not { } file)
        {
            return TypedResults.NotFound();
        }

        var info = new FileInfo(file);
        var contentType = info.Extension == ".mp3" ? "audio/mpeg" : "audio/wav";
        // URLs carry ?v=<content hash>, so a changed recording gets a new URL: caching for a day is
        // safe and spares each call a fetch.
        response.Headers.CacheControl = "public, max-age=86400";
        var etag = new EntityTagHeaderValue($"\"{info.Length:x}-{info.LastWriteTimeUtc.Ticks:x}\"");
        return TypedResults.PhysicalFile(file, contentType, lastModified: info.LastWriteTimeUtc, entityTag: etag, enableRangeProcessing: true);
    }
}
