using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace WsrHotline.Hosting;

/// <summary>Options of the proxy in front of the app (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    /// <summary>Addresses of reverse proxies whose X-Forwarded-* headers are believed. Empty: none are.</summary>
    public List<string> KnownProxies { get; set; } = [];
}

public static class HostingExtensions
{
    /// <summary>
    /// Logs: readable lines in Development, one JSON object per line elsewhere. Framework request
    /// logging stays at Warning so no URL or form value of a webhook reaches a log.
    /// </summary>
    public static WebApplicationBuilder AddHotlineLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // Request logging prints URLs with query strings, which can hold phone numbers: never below Warning.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.HttpLogging", LogLevel.None);
        if (builder.Environment.IsDevelopment())
        {
            builder.Logging.AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.TimestampFormat = "HH:mm:ss ";
            });
        }
        else
        {
            builder.Logging.AddJsonConsole(options => options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ");
        }
        return builder;
    }

    public static IServiceCollection AddHotlineOptions(this IServiceCollection services)
    {
        services.AddOptions<HotlineOptions>()
            .BindConfiguration("Hotline")
            .Validate(options => options.AllNumbersValid(),
                "Hotline:TollFreeNumber and Hotline:SmsNumber must be E.164 numbers (+18005550100), " +
                "Hotline:WhatsAppSender must read whatsapp:+E.164, and every Hotline:EmergencyOnCallNumbers " +
                "entry must be E.164: set them in configuration or as Hotline__TollFreeNumber etc.")
            .ValidateOnStart();

        services.AddOptions<ProxyOptions>()
            .BindConfiguration("Proxy")
            .Validate(options => options.KnownProxies.All(address => IPAddress.TryParse(address, out _)),
                "Every Proxy:KnownProxies entry must be an IP address (Proxy__KnownProxies__0=10.0.0.5).")
            .ValidateOnStart();

        // Twilio signs the public URL it called; behind a proxy the app sees another one. Forwarded
        // headers are honoured only from the configured proxies. With none configured they are not
        // processed at all: the middleware treats empty trust lists as "trust every address".
        services.AddOptions<ForwardedHeadersOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<ProxyOptions>>((options, proxy) =>
            {
                options.KnownProxies.Clear();
                options.KnownIPNetworks.Clear();
#pragma warning disable ASPDEPR005, CS0618 // the obsolete list is still consulted and holds loopback
                options.KnownNetworks.Clear();
#pragma warning restore ASPDEPR005, CS0618
                foreach (var address in proxy.Value.KnownProxies)
                {
                    options.KnownProxies.Add(IPAddress.Parse(address));
                }
                options.ForwardedHeaders = options.KnownProxies.Count > 0
                    ? ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost
                    : ForwardedHeaders.None;
            });
        return services;
    }
}
