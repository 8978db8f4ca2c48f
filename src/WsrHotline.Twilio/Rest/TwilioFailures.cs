using Twilio.Exceptions;

namespace WsrHotline.Twilio;

/// <summary>
/// What a failed Twilio call tells its caller. The SDK throws <see cref="ApiException"/> when Twilio
/// answered with an error (<see cref="ApiException.Status"/> and <see cref="ApiException.Code"/>; both 0
/// when the body was not Twilio's JSON, e.g. a proxy's HTML page) and <see cref="ApiConnectionException"/>
/// when no answer came (the transport's exception inside). Neither exception's message may be logged
/// or stored: Twilio's error texts quote phone numbers, and a connection error quotes the URL.
/// </summary>
public static class TwilioFailures
{
    /// <summary>
    /// Whether the failed request certainly did not reach Twilio's application: Twilio answered with a
    /// 4xx (it refused the request), or no connection was made. A 5xx, an unreadable error, a timeout or
    /// a connection lost mid-request may have been acted on.
    /// </summary>
    public static bool ProvesNotTaken(Exception exception) => exception switch
    {
        ApiException api => api.Status is >= 400 and < 500,
        ApiConnectionException { InnerException: HttpRequestException http } => TwilioRetries.NoConnectionMade(http),
        HttpRequestException http => TwilioRetries.NoConnectionMade(http),
        _ => false,
    };

    /// <summary>The HTTP status Twilio answered with, when it answered readably.</summary>
    public static int? HttpStatus(Exception exception) =>
        exception is ApiException { Status: > 0 } api ? api.Status : null;

    /// <summary>Twilio's error code (<see cref="TwilioErrorCodes"/>), when the answer carried one.</summary>
    public static int? ErrorCode(Exception exception) =>
        exception is ApiException { Code: > 0 } api ? api.Code : null;

    /// <summary>The recipient replied STOP: do not message them again until they opt back in.</summary>
    public static bool IsOptOut(Exception exception) => ErrorCode(exception) == TwilioErrorCodes.RecipientOptedOut;

    /// <summary>A description to store or log: status and code, or the transport error's type; never a message.</summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            ApiException api => $"twilio: HTTP {HttpStatus(api)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, error {ErrorCode(api)}",
            ApiConnectionException { InnerException: { } inner } => inner.GetType().Name,
            _ => exception.GetType().Name,
        };
    }
}
