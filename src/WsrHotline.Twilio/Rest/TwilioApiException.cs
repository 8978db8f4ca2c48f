namespace WsrHotline.Twilio;

/// <summary>
/// Twilio's REST API refused a request (4xx) or kept failing (5xx/429 after all retries).
/// The message names the operation and codes only: never a phone number or message text.
/// </summary>
public sealed class TwilioApiException : Exception
{
    public TwilioApiException()
    {
    }

    public TwilioApiException(string message)
        : base(message)
    {
    }

    public TwilioApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public TwilioApiException(string operation, int httpStatus, int? errorCode, string? moreInfo)
        : base(errorCode is null
            ? $"Twilio API {operation} failed with HTTP {httpStatus}."
            : $"Twilio API {operation} failed with HTTP {httpStatus}, Twilio error {errorCode}.")
    {
        HttpStatus = httpStatus;
        ErrorCode = errorCode;
        MoreInfo = moreInfo;
    }

    /// <summary>Twilio's error code (see <see cref="TwilioErrorCodes"/>), when the response carried one.</summary>
    public int? ErrorCode { get; }

    public int HttpStatus { get; }

    /// <summary>Link to Twilio's page about the error code.</summary>
    public string? MoreInfo { get; }

    /// <summary>The recipient replied STOP: do not message them again until they opt back in.</summary>
    public bool IsOptOut => ErrorCode == TwilioErrorCodes.RecipientOptedOut;
}
