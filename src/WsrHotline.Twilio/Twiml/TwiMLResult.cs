using Microsoft.AspNetCore.Http;

namespace WsrHotline.Twilio;

/// <summary>Returns a TwiML document from a minimal API endpoint: <c>return new TwimlResult(twiml);</c>.</summary>
public sealed class TwimlResult : IResult, IContentTypeHttpResult, IStatusCodeHttpResult
{
    public const string TwimlContentType = "application/xml; charset=utf-8";

    public TwimlResult(TwimlResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Response = response;
    }

    public TwimlResponse Response { get; }

    public string ContentType => TwimlContentType;

    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var bytes = Response.ToUtf8Bytes();
        httpContext.Response.StatusCode = StatusCodes.Status200OK;
        httpContext.Response.ContentType = ContentType;
        httpContext.Response.ContentLength = bytes.Length;
        await httpContext.Response.Body.WriteAsync(bytes, httpContext.RequestAborted);
    }
}

public static class TwimlResultExtensions
{
    /// <summary><c>Results.Extensions.Twiml(twiml)</c>: same as <c>new TwimlResult(twiml)</c>.</summary>
    public static TwimlResult Twiml(this IResultExtensions resultExtensions, TwimlResponse response)
    {
        ArgumentNullException.ThrowIfNull(resultExtensions);
        return new TwimlResult(response);
    }
}
