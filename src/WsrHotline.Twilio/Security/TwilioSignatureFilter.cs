using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

/// <summary>
/// Endpoint filter that answers a bare 403 to any request without a valid <c>X-Twilio-Signature</c>.
/// Attach it with <see cref="TwilioEndpointExtensions.RequireTwilioSignature{TBuilder}"/>.
/// </summary>
public sealed partial class TwilioSignatureFilter : IEndpointFilter
{
    private readonly TwilioOptions options;
    private readonly TwilioRequestValidator? validator;
    private readonly ILogger<TwilioSignatureFilter> logger;

    public TwilioSignatureFilter(IOptions<TwilioOptions> options, ILogger<TwilioSignatureFilter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.logger = logger;
        validator = string.IsNullOrEmpty(this.options.AuthToken) ? null : new TwilioRequestValidator(this.options.AuthToken);
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        if (!options.ValidateSignatures || await IsSignedByTwilioAsync(context.HttpContext.Request))
        {
            return await next(context);
        }

        // Only the path: the query string and form may hold phone numbers or message text.
        LogSignatureRejected(logger, context.HttpContext.Request.Path.Value ?? "/");
        return Results.StatusCode(StatusCodes.Status403Forbidden);
    }

    private async Task<bool> IsSignedByTwilioAsync(HttpRequest request)
    {
        string? signature = request.Headers[TwilioRequestSigner.SignatureHeader];
        if (validator is null || string.IsNullOrEmpty(signature))
        {
            return false;
        }

        var url = RebuildSignedUrl(request);
        var cancellationToken = request.HttpContext.RequestAborted;

        if (TwilioRequestValidator.HasBodySha256(url))
        {
            var body = await ReadRawBodyAsync(request, cancellationToken);
            return validator.ValidateWithBody(url, body, signature);
        }

        if (request.HasFormContentType)
        {
            // Cached by ASP.NET Core, so [FromForm] binding and this filter share one read.
            var form = await request.ReadFormAsync(cancellationToken);
            var parameters = form.SelectMany(field => field.Value.Select(value => KeyValuePair.Create(field.Key, value ?? "")));
            return validator.Validate(url, parameters, signature);
        }

        // A body Twilio did not cover with the signature (neither form nor bodySHA256) is not trusted.
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            return false;
        }

        return validator.Validate(url, [], signature);
    }

    /// <summary>
    /// The URL Twilio signed. Behind a reverse proxy that is the configured public address; otherwise
    /// the request's scheme and host, which the app's ForwardedHeaders middleware may already have
    /// corrected (trusting only the configured proxies: that is the app's job, not this filter's).
    /// </summary>
    private string RebuildSignedUrl(HttpRequest request)
    {
        if (!string.IsNullOrWhiteSpace(options.PublicBaseUrl))
        {
            return options.PublicBaseUrl.TrimEnd('/')
                + request.PathBase.ToUriComponent()
                + request.Path.ToUriComponent()
                + request.QueryString.ToUriComponent();
        }

        return UriHelper.BuildAbsolute(request.Scheme, request.Host, request.PathBase, request.Path, request.QueryString);
    }

    private static async Task<byte[]> ReadRawBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        // Buffering lets the endpoint read the body again after us; RequireTwilioSignature also turns it
        // on before parameter binding, which runs before endpoint filters and would otherwise consume it.
        request.EnableBuffering();
        request.Body.Position = 0;
        using var copy = new MemoryStream();
        await request.Body.CopyToAsync(copy, cancellationToken);
        request.Body.Position = 0;
        return copy.ToArray();
    }

    [LoggerMessage(EventId = 7101, EventName = "TwilioSignatureRejected", Level = LogLevel.Warning,
        Message = "Rejected a request to {Path} without a valid Twilio signature")]
    private static partial void LogSignatureRejected(ILogger logger, string path);
}
