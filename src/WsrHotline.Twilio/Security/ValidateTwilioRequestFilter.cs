using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

/// <summary>
/// Endpoint filter that lets through only webhooks signed by Twilio and holding what a Twilio webhook
/// can hold. Attach it with <see cref="TwilioEndpointExtensions.ValidateTwilioRequest{TBuilder}"/>; the signature
/// itself is checked by Twilio's <c>RequestValidator</c> (<see cref="TwilioRequestValidation"/>).
/// </summary>
/// <remarks>
/// The order, and why (no bad input ever gets a 5xx or an error-level log):
/// <list type="number">
/// <item>A body over <see cref="TwilioEndpointExtensions.MaxBodyBytes"/> by its Content-Length: 413, unread
/// (in <c>ValidateTwilioRequest</c>, before this filter).</item>
/// <item>No <c>X-Twilio-Signature</c> header: 403, the body unread.</item>
/// <item>The body is read, within the cap and the form limits. A chunked body that runs past the cap: 413.
/// Twilio signs a form as its parsed parameters, so a form that cannot be parsed (broken multipart, too
/// many fields, a name over the limit, an unknown charset) cannot be shown to be signed: 403, like any
/// signature that does not verify. The one exception is a %00: ASP.NET Core's reader refuses it, a
/// second reader keeps it, so its signature is checked and step 5 answers. A JSON body is signed by its
/// <c>bodySHA256</c> and needs no parsing.</item>
/// <item>The signature does not verify: 403 (a bare one: nothing tells a forger what was wrong).</item>
/// <item>Signed, but holding what no Twilio webhook holds (<see cref="TwilioWebhookValues"/>: a NUL, an
/// impossible SID or status): 400, before the app stores or spools any of it. Only now, after the
/// signature: a 400 to an unsigned request would tell a forger which of its values got through.</item>
/// </list>
/// With <see cref="TwilioOptions.ValidateSignatures"/> off (local development) steps 2 and 4 are skipped,
/// and a form that cannot be parsed gets 400. Whether the endpoint wants a form at all (a signed JSON
/// body or an empty one reaches it) is the endpoint's to say.
/// </remarks>
public sealed partial class ValidateTwilioRequestFilter : IEndpointFilter
{
    private readonly TwilioOptions options;
    private readonly ILogger<ValidateTwilioRequestFilter> logger;

    public ValidateTwilioRequestFilter(IOptions<TwilioOptions> options, ILogger<ValidateTwilioRequestFilter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.logger = logger;
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        var request = context.HttpContext.Request;
        // Only the path is ever logged: the query string and form may hold phone numbers or message text.
        var path = request.Path.Value ?? "/";
        string? signature = request.Headers[TwilioRequestValidation.SignatureHeader];
        if (options.ValidateSignatures && (string.IsNullOrEmpty(options.AuthToken) || string.IsNullOrEmpty(signature)))
        {
            LogSignatureRejected(logger, path);
            return Results.StatusCode(StatusCodes.Status403Forbidden);
        }

        var body = await ReadBodyAsync(request);
        if (body.TooLarge)
        {
            LogBodyTooLarge(logger, path, TwilioEndpointExtensions.MaxBodyBytes);
            return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
        }
        if (body.Unreadable is { } error)
        {
            LogUnreadableBody(logger, path, error, options.ValidateSignatures ? 403 : 400);
            return Results.StatusCode(options.ValidateSignatures ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest);
        }
        if (options.ValidateSignatures && !IsSignedByTwilio(request, body, signature))
        {
            LogSignatureRejected(logger, path);
            return Results.StatusCode(StatusCodes.Status403Forbidden);
        }

        if (TwilioWebhookValues.FindImpossible(body.Form ?? FormCollection.Empty, request.Query) is { } field)
        {
            LogImpossibleValue(logger, path, field);
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest,
                title: "The webhook holds a value no Twilio webhook holds.", detail: $"Field: {field}");
        }

        return await next(context);
    }

    /// <summary>The form, or the raw body of a JSON webhook, read within the limits; never throws for bad input.</summary>
    private async Task<WebhookBody> ReadBodyAsync(HttpRequest request)
    {
        var cancellationToken = request.HttpContext.RequestAborted;
        try
        {
            if (options.ValidateSignatures && TwilioRequestValidation.HasBodySha256(RebuildSignedUrl(request)))
            {
                return await ReadRawBodyAsync(request, cancellationToken) is { } raw ? new WebhookBody(null, raw) : WebhookBody.Oversized;
            }
            if (request.HasFormContentType)
            {
                // Cached by ASP.NET Core, so the endpoint and this filter share one read.
                return new WebhookBody(await request.ReadFormAsync(cancellationToken), null);
            }
            return new WebhookBody(null, null);
        }
        catch (InvalidDataException) when (TwilioEndpointExtensions.IsUrlEncoded(request) && request.Body.CanSeek)
        {
            // ASP.NET Core's reader refuses a %00 (NUL), which a form Twilio signed might hold: read it
            // again with one that keeps it (and the same limits), so that its signature can be checked
            // and, if it verifies, the NUL refused with a 400 that says where it is (or kept, in a Body).
            return await ReadUrlEncodedAgainAsync(request);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return WebhookBody.Oversized;
        }
        catch (Exception ex) when (IsUnreadable(ex))
        {
            return new WebhookBody(null, null, ex.GetType().Name);
        }
    }

    private static async Task<WebhookBody> ReadUrlEncodedAgainAsync(HttpRequest request)
    {
        try
        {
            request.Body.Position = 0;
            using var text = new StreamReader(request.Body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, leaveOpen: true);
            using var reader = new FormReader(await text.ReadToEndAsync(request.HttpContext.RequestAborted))
            {
                ValueCountLimit = TwilioEndpointExtensions.MaxFormValues,
                KeyLengthLimit = TwilioEndpointExtensions.MaxFormKeyLength,
                ValueLengthLimit = (int)TwilioEndpointExtensions.MaxBodyBytes,
            };
            var form = new FormCollection(await reader.ReadFormAsync(request.HttpContext.RequestAborted));
            // The endpoint reads this one (the failed reading stays cached in the old feature).
            request.HttpContext.Features.Set<IFormFeature>(new FormFeature(form));
            return new WebhookBody(form, null);
        }
        catch (Exception ex) when (IsUnreadable(ex))
        {
            return new WebhookBody(null, null, ex.GetType().Name);
        }
    }

    /// <summary>
    /// What bad input makes reading throw: the form limits and malformed multipart (InvalidDataException),
    /// a malformed chunked body or one cut short (IOException, BadHttpRequestException), an unknown or
    /// disabled charset (NotSupportedException, ArgumentException). A cancelled read is not one of
    /// them: a client that left is not bad input.
    /// </summary>
    private static bool IsUnreadable(Exception ex) =>
        ex is InvalidDataException or IOException or InvalidOperationException or ArgumentException or NotSupportedException or FormatException;

    private bool IsSignedByTwilio(HttpRequest request, WebhookBody body, string? signature)
    {
        var url = RebuildSignedUrl(request);
        if (body.Raw is { } raw)
        {
            return TwilioRequestValidation.IsSignedWithBody(options.AuthToken, url, raw, signature);
        }

        if (body.Form is { } form)
        {
            return TwilioRequestValidation.IsSigned(options.AuthToken, url, form, signature);
        }

        // A body Twilio did not cover with the signature (neither form nor bodySHA256) is not trusted.
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            return false;
        }

        return TwilioRequestValidation.IsSigned(options.AuthToken, url, FormCollection.Empty, signature);
    }

    /// <summary>
    /// The URL Twilio signed. Behind a reverse proxy that is the configured public address; otherwise
    /// the request's scheme and host, which the app's ForwardedHeaders middleware may already have
    /// corrected (trusting only the configured proxies: that is the app's job, not this filter's).
    /// </summary>
    /// The path and query are taken as the request spelled them (the raw target) where the server has it:
    /// decoded and encoded again, <c>/step/%25C3%25A9</c> would come back as <c>/step/%C3%A9</c>.
    private string RebuildSignedUrl(HttpRequest request)
    {
        var rawTarget = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var pathAndQuery = rawTarget is { Length: > 0 } && rawTarget[0] == '/'
            ? rawTarget
            : request.PathBase.ToUriComponent() + request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        if (!string.IsNullOrWhiteSpace(options.PublicBaseUrl))
        {
            return options.PublicBaseUrl.TrimEnd('/') + pathAndQuery;
        }
        if (rawTarget is { Length: > 0 } && rawTarget[0] == '/')
        {
            return $"{request.Scheme}://{request.Host.ToUriComponent()}{rawTarget}";
        }

        return UriHelper.BuildAbsolute(request.Scheme, request.Host, request.PathBase, request.Path, request.QueryString);
    }

    /// <summary>The whole body, or null past <see cref="TwilioEndpointExtensions.MaxBodyBytes"/> (on any server).</summary>
    private static async Task<byte[]?> ReadRawBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        // Buffering lets the endpoint read the body again after us; ValidateTwilioRequest also turns it
        // on before parameter binding, which runs before endpoint filters and would otherwise consume it.
        request.EnableBuffering();
        request.Body.Position = 0;
        using var copy = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (copy.Length + read > TwilioEndpointExtensions.MaxBodyBytes)
            {
                return null;
            }
            copy.Write(chunk, 0, read);
        }
        request.Body.Position = 0;
        return copy.ToArray();
    }

    /// <summary>For <see cref="TwilioEndpointExtensions.ValidateTwilioRequest{TBuilder}"/>'s Content-Length check.</summary>
    internal static void LogBodyTooLarge(HttpContext httpContext) =>
        LogBodyTooLarge(httpContext.RequestServices.GetRequiredService<ILogger<ValidateTwilioRequestFilter>>(),
            httpContext.Request.Path.Value ?? "/", TwilioEndpointExtensions.MaxBodyBytes);

    private readonly record struct WebhookBody(IFormCollection? Form, byte[]? Raw, string? Unreadable = null, bool TooLarge = false)
    {
        public static WebhookBody Oversized => new(null, null, TooLarge: true);
    }

    [LoggerMessage(EventId = 7101, EventName = "TwilioSignatureRejected", Level = LogLevel.Warning,
        Message = "Rejected a request to {Path} without a valid Twilio signature")]
    private static partial void LogSignatureRejected(ILogger logger, string path);

    [LoggerMessage(EventId = 7102, EventName = "TwilioWebhookUnreadable", Level = LogLevel.Warning,
        Message = "Refused a request to {Path} whose form could not be read ({Error}): answered {Status}")]
    private static partial void LogUnreadableBody(ILogger logger, string path, string error, int status);

    [LoggerMessage(EventId = 7103, EventName = "TwilioWebhookImpossibleValue", Level = LogLevel.Warning,
        Message = "Refused a signed request to {Path}: its field {Field} holds a value no Twilio webhook holds (400)")]
    private static partial void LogImpossibleValue(ILogger logger, string path, string field);

    [LoggerMessage(EventId = 7104, EventName = "TwilioWebhookTooLarge", Level = LogLevel.Warning,
        Message = "Refused a request to {Path} with a body over {MaxBytes} bytes (413)")]
    private static partial void LogBodyTooLarge(ILogger logger, string path, long maxBytes);
}
