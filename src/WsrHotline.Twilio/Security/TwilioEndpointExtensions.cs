using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace WsrHotline.Twilio;

public static class TwilioEndpointExtensions
{
    /// <summary>
    /// Rejects with 403 every request to these endpoints (a route group or a single endpoint) that does
    /// not carry a valid Twilio signature. See <see cref="TwilioSignatureFilter"/>.
    /// </summary>
    public static TBuilder RequireTwilioSignature<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Minimal APIs bind parameters (a JSON body included) before endpoint filters run, so the raw
        // body must be buffered before the endpoint's own delegate starts, or the filter could not
        // hash it. "Finally" conventions see the fully built request delegate. A form post is not
        // buffered: its signature covers the parsed form, which ASP.NET Core reads once and caches.
        builder.Finally(endpoint =>
        {
            if (endpoint.RequestDelegate is { } inner)
            {
                endpoint.RequestDelegate = httpContext =>
                {
                    if (!httpContext.Request.HasFormContentType)
                    {
                        httpContext.Request.EnableBuffering();
                    }
                    return inner(httpContext);
                };
            }
        });

        // Twilio cannot send antiforgery tokens; the signature is what proves the request's origin.
        builder.DisableAntiforgery();
        return builder.AddEndpointFilter<TBuilder, TwilioSignatureFilter>();
    }
}
