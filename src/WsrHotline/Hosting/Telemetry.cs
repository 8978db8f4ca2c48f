using System.Diagnostics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace WsrHotline.Hosting;

/// <summary>OpenTelemetry export (section <c>Telemetry</c>). With no endpoint nothing is registered.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The OTLP collector, e.g. <c>http://otel-collector:4317</c>. Empty: no telemetry (unless OTEL_EXPORTER_OTLP_ENDPOINT is set).</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary><c>grpc</c> (default) or <c>http/protobuf</c>; empty: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.</summary>
    public string OtlpProtocol { get; set; } = "";

    /// <summary>The <c>service.name</c> of every span and metric.</summary>
    public string ServiceName { get; set; } = "wsr-hotline";

    internal bool EndpointValid() =>
        OtlpEndpoint.Length == 0
        || (Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps));

    internal bool ProtocolValid() => OtlpProtocol is "" or "grpc" or "http/protobuf";
}

public static class TelemetryExtensions
{
    /// <summary>
    /// Traces (ASP.NET Core server spans, HttpClient calls to Twilio and buyers, Npgsql commands) and
    /// metrics (ASP.NET Core, HttpClient, Npgsql, the runtime's own meter) over OTLP, when
    /// <c>Telemetry:OtlpEndpoint</c> or the standard OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise
    /// nothing is registered at all. Logs are not exported: they stay on the console as they are.
    /// No span or metric carries a phone number, a message's words or a query string: see <see cref="TelemetrySpanRules"/>.
    /// </summary>
    public static IServiceCollection AddHotlineTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Telemetry").Get<TelemetryOptions>() ?? new TelemetryOptions();
        var standardEndpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        if (options.OtlpEndpoint.Length == 0 && string.IsNullOrEmpty(standardEndpoint))
        {
            return services;
        }

        services.AddOptions<TelemetryOptions>()
            .BindConfiguration("Telemetry")
            .Validate(o => o.EndpointValid(), "Telemetry:OtlpEndpoint must be an absolute http or https address (http://otel-collector:4317), or empty for no telemetry.")
            .Validate(o => o.ProtocolValid(), "Telemetry:OtlpProtocol must be grpc or http/protobuf (or empty: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc).")
            .Validate(o => o.ServiceName.Length > 0, "Telemetry:ServiceName must not be empty (default wsr-hotline).")
            .ValidateOnStart();
        if (!options.EndpointValid() || !options.ProtocolValid())
        {
            // The validation above stops the start with its sentence; export nowhere meanwhile.
            return services;
        }

        var protocol = options.OtlpProtocol is { Length: > 0 } own ? own : configuration["OTEL_EXPORTER_OTLP_PROTOCOL"];
        void Otlp(OtlpExporterOptions exporter, string signalPath)
        {
            // Telemetry:* wins; what is not set there the exporter reads from the OTEL_EXPORTER_OTLP_* variables itself.
            if (options.OtlpProtocol.Length > 0)
            {
                exporter.Protocol = options.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            }
            if (options.OtlpEndpoint.Length == 0)
            {
                return;
            }
            exporter.Protocol = protocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            // An endpoint set in code is used as it is: over HTTP the signal's path must be added here.
            exporter.Endpoint = exporter.Protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(options.OtlpEndpoint.TrimEnd('/') + signalPath)
                : new Uri(options.OtlpEndpoint);
        }

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(options.ServiceName.Length > 0 ? options.ServiceName : "wsr-hotline"))
            .WithTracing(tracing => tracing
                // First, so that every exporter added after it sees spans already cut.
                .AddProcessor(new TelemetrySpanRules())
                .AddAspNetCoreInstrumentation(aspNetCore =>
                {
                    aspNetCore.Filter = TelemetrySpanRules.IsTracedRequest;
                    aspNetCore.RecordException = false;
                })
                .AddHttpClientInstrumentation(http => http.RecordException = false)
                .AddNpgsql()
                .AddOtlpExporter(exporter => Otlp(exporter, "/v1/traces")))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddNpgsqlInstrumentation()
                // The runtime's own meter (GC, thread pool, exceptions, CPU), built into .NET 9 and later.
                .AddMeter("System.Runtime")
                .AddOtlpExporter(exporter => Otlp(exporter, "/v1/metrics")));
        return services;
    }
}

/// <summary>
/// What may leave the process in a span. Server spans: never the query string (the buyers' answer
/// links carry their token there, a GET webhook its caller's number); no span for health checks,
/// static files or the simulator (whose URLs name its phones). HttpClient spans: never the query
/// string, and the path only of Twilio's REST resources (<c>/2010-04-01/Accounts/AC…/Messages.json</c>,
/// SIDs only); any other URL (a worker's attachment or a recording, which Twilio serves to whoever has
/// the address; a buyer's webhook address, which may hold its secret) is cut to its origin. Npgsql
/// spans: the SQL text is parameterised (no values; Npgsql records no parameters), and Hangfire's own
/// queries (its polling, its schema install) are not exported at all.
/// </summary>
public sealed class TelemetrySpanRules : BaseProcessor<Activity>
{
    /// <summary>
    /// The start of the Application Name of Hangfire's connections (<c>wsr-hotline-jobs</c>, and
    /// <c>wsr-hotline-jobs-schema</c> for the schema install), set in <c>Jobs/JobsExtensions.cs</c> and <c>Jobs/JobsSchema.cs</c>.
    /// </summary>
    public const string HangfireApplicationName = "wsr-hotline-jobs";

    private static readonly string[] UntracedPrefixes = ["/health/", "/simulator", "/app/", "/favicon.ico"];

    /// <summary>The ASP.NET Core instrumentation's filter: false for requests that get no span.</summary>
    public static bool IsTracedRequest(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path.Value ?? "";
        return !UntracedPrefixes.Any(prefix => path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
    }

    public override void OnEnd(Activity data)
    {
        ArgumentNullException.ThrowIfNull(data);
        switch (data.Source.Name)
        {
            case "Npgsql" when IsHangfire(data):
                // Exporting processors skip spans that are not recorded.
                data.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
                break;
            case "Microsoft.AspNetCore":
                data.SetTag("url.query", null);
                break;
            case "System.Net.Http":
                if (data.GetTagItem("url.full") is string full && Uri.TryCreate(full, UriKind.Absolute, out var url))
                {
                    data.SetTag("url.full", Redacted(url));
                }
                data.SetTag("url.query", null);
                data.SetTag("url.path", null);
                break;
        }
    }

    /// <summary>The origin, with the path only for a Twilio REST resource; never the query string.</summary>
    public static string Redacted(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var path = url.AbsolutePath;
        var twilioResource = path.Contains("/2010-04-01/Accounts/", StringComparison.Ordinal) && path.EndsWith(".json", StringComparison.Ordinal);
        return url.GetLeftPart(UriPartial.Authority) + (twilioResource ? path : "/");
    }

    private static bool IsHangfire(Activity activity) =>
        (activity.GetTagItem("db.npgsql.data_source") is string dataSource
            && dataSource.Contains("Application Name=" + HangfireApplicationName, StringComparison.OrdinalIgnoreCase))
        || (activity.GetTagItem("db.query.text") is string sql
            && (sql.Contains("hangfire.", StringComparison.OrdinalIgnoreCase) || sql.Contains("\"hangfire\".", StringComparison.OrdinalIgnoreCase)));
}
