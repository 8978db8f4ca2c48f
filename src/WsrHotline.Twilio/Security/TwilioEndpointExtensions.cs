using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WsrHotline.Twilio;

public static class TwilioEndpointExtensions
{
    /// <summary>
    /// The largest webhook body accepted, in bytes. Twilio's largest is an incoming WhatsApp message:
    /// 4,096 characters of Body (at most 36 KB form-encoded, even in Bengali script) and ten media
    /// URLs, about 40 KB with every other field. Anything larger is not Twilio's: 413, unread.
    /// </summary>
    public const long MaxBodyBytes = 64 * 1024;

    /// <summary>More fields than any Twilio webhook sends (a message with ten attachments has about 50).</summary>
    public const int MaxFormValues = 256;

    /// <summary>Twilio's longest field name has about 20 characters.</summary>
    public const int MaxFormKeyLength = 128;

    /// <summary>
    /// Rejects with 403 every request to these endpoints (a route group or a single endpoint) that does
    /// not carry a valid Twilio signature, with 413 any body over <see cref="MaxBodyBytes"/>, and with
    /// 400 a signed request holding what no Twilio webhook holds. See <see cref="ValidateTwilioRequestFilter"/>.
    /// Named and shaped like <c>Twilio.AspNet.Core</c>'s filter, which this registry does not serve.
    /// </summary>
    public static TBuilder ValidateTwilioRequest<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.WithMetadata(TwilioSignatureRequired.Instance);

        // The routing middleware applies these to the request before the endpoint runs, so the form
        // reader stops at them.
        builder.WithFormOptions(
            valueCountLimit: MaxFormValues,
            keyLengthLimit: MaxFormKeyLength,
            valueLengthLimit: (int)MaxBodyBytes,
            multipartBodyLengthLimit: MaxBodyBytes);

        // Minimal APIs bind parameters (a JSON body included) before endpoint filters run, so the raw
        // body must be buffered before the endpoint's own delegate starts, or the filter could not
        // hash it. "Finally" conventions see the fully built request delegate. A form post's signature
        // covers the parsed form, which ASP.NET Core reads once and caches; a url-encoded one is
        // buffered too (in memory: it is at most the cap), for the filter's second reading of a form
        // ASP.NET Core's reader refuses (see ValidateTwilioRequestFilter).
        builder.Finally(endpoint =>
        {
            if (endpoint.RequestDelegate is { } inner)
            {
                endpoint.RequestDelegate = httpContext =>
                {
                    var request = httpContext.Request;
                    if (request.ContentLength > MaxBodyBytes)
                    {
                        // Before anything reads it, and before the signature: a flood of large unsigned
                        // bodies costs a header each. The server's own limit is left as it is for these, so
                        // that Kestrel reads the rest of the body away (discarding it) and the client sees
                        // this answer; below its own limit Kestrel would reset the connection instead.
                        ValidateTwilioRequestFilter.LogBodyTooLarge(httpContext);
                        httpContext.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                        return Task.CompletedTask;
                    }
                    if (request.ContentLength is null
                        && httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                    {
                        // A chunked body: Kestrel stops reading it at the cap (the test server has no such
                        // feature; there the form limits above bound what is read).
                        limit.MaxRequestBodySize = MaxBodyBytes;
                    }
                    if (!request.HasFormContentType || IsUrlEncoded(request))
                    {
                        request.EnableBuffering(bufferThreshold: (int)MaxBodyBytes);
                    }
                    return inner(httpContext);
                };
            }
        });

        // Twilio cannot send antiforgery tokens; the signature is what proves the request's origin.
        builder.DisableAntiforgery();
        return builder.AddEndpointFilter<TBuilder, ValidateTwilioRequestFilter>();
    }

    internal static bool IsUrlEncoded(HttpRequest request) =>
        request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) == true;
}

/// <summary>
/// Endpoint metadata on every endpoint <see cref="TwilioEndpointExtensions.ValidateTwilioRequest{TBuilder}"/>
/// guards, so that tests (and tools) can find all of Twilio's endpoints in the EndpointDataSource.
/// </summary>
public sealed class TwilioSignatureRequired
{
    public static readonly TwilioSignatureRequired Instance = new();

    private TwilioSignatureRequired()
    {
    }
}
