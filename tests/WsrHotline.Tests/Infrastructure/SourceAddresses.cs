using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The in-memory test server knows no client address; with this, a request's
/// <see cref="HeaderName"/> header becomes its remote address (as a socket's would be), so sign-in
/// throttling per source address can be tested. Only in tests: the app itself has no such header.
/// </summary>
public static class SourceAddresses
{
    public const string HeaderName = "X-Test-Source-Address";

    /// <summary>The app of <paramref name="factory"/>, reading the source address from the header, and optionally on <paramref name="time"/>.</summary>
    public static WebApplicationFactory<Program> WithSourceAddresses(this WebApplicationFactory<Program> factory, TimeProvider? time = null) =>
        factory.WithWebHostBuilder(builder =>
        {
            builder.ConfigureServices(services => services.AddSingleton<IStartupFilter, FromHeader>());
            if (time is not null)
            {
                builder.ConfigureTestServices(services => services.AddSingleton(time));
            }
        });

    /// <summary>A client that comes from <paramref name="address"/>, keeps cookies and follows no redirect.</summary>
    public static HttpClient ClientFrom(this WebApplicationFactory<Program> factory, string address)
    {
        var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        client.DefaultRequestHeaders.Add(HeaderName, address);
        return client;
    }

    private sealed class FromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (IPAddress.TryParse(context.Request.Headers[HeaderName].ToString(), out var address))
                {
                    context.Connection.RemoteIpAddress = address;
                }
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
