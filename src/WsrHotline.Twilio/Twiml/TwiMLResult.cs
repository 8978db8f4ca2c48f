using Microsoft.AspNetCore.Http;
using Twilio.TwiML;

namespace WsrHotline.Twilio;

/// <summary>
/// Returns a TwiML document from a minimal API endpoint: <c>return new TwiMLResult(response);</c> or
/// <c>Results.Extensions.TwiML(response)</c>. Named and shaped like <c>Twilio.AspNet.Core</c>'s, which
/// this registry does not serve; unlike it, the document is written compact (no indentation, fewer
/// bytes per step) and without characters XML cannot hold (<see cref="TwimlWriter"/>).
/// </summary>
public sealed class TwiMLResult : IResult, IContentTypeHttpResult, IStatusCodeHttpResult
{
    public const string TwimlContentType = "application/xml; charset=utf-8";

    public TwiMLResult(TwiML twiml)
    {
        ArgumentNullException.ThrowIfNull(twiml);
        Twiml = twiml;
    }

    public TwiML Twiml { get; }

    public string ContentType => TwimlContentType;

    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var bytes = TwimlWriter.ToUtf8Bytes(Twiml);
        httpContext.Response.StatusCode = StatusCodes.Status200OK;
        httpContext.Response.ContentType = ContentType;
        httpContext.Response.ContentLength = bytes.Length;
        await httpContext.Response.Body.WriteAsync(bytes, httpContext.RequestAborted);
    }
}

public static class TwiMLResultExtensions
{
    /// <summary><c>Results.Extensions.TwiML(response)</c>: same as <c>new TwiMLResult(response)</c>.</summary>
    public static TwiMLResult TwiML(this IResultExtensions resultExtensions, TwiML twiml)
    {
        ArgumentNullException.ThrowIfNull(resultExtensions);
        return new TwiMLResult(twiml);
    }
}
