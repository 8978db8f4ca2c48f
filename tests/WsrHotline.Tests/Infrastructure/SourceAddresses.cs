using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The in-memory test server knows no client address; with this, a request's
/// <see cref="HeaderName"/> header becomes its remote address (as a socket's would be), so sign-in
/// throttling per source address can be tested. Only in tests: the app itself has no such header.
/// A host reads it when its <see cref="TestHostOptions.SourceAddresses"/> is set.
/// </summary>
public static class SourceAddresses
{
    public const string HeaderName = "X-Test-Source-Address";

    /// <summary>A client that comes from <paramref name="address"/>, keeps cookies and follows no redirect.</summary>
    public static HttpClient ClientFrom(this HotlineFactory factory, string address)
    {
        var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        client.DefaultRequestHeaders.Add(HeaderName, address);
        return client;
    }

    internal sealed class FromHeader : IStartupFilter
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
