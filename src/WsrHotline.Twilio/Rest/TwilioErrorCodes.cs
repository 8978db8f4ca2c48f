namespace WsrHotline.Twilio;

/// <summary>Twilio error codes this product reacts to (https://www.twilio.com/docs/api/errors).</summary>
public static class TwilioErrorCodes
{
    /// <summary>20429: too many requests; Twilio is rate limiting this account.</summary>
    public const int TooManyRequests = 20429;

    /// <summary>21211: the 'To' number is not a valid phone number.</summary>
    public const int InvalidToNumber = 21211;

    /// <summary>21610: the recipient unsubscribed (replied STOP); Twilio blocks messages to them.</summary>
    public const int RecipientOptedOut = 21610;

    /// <summary>21614: the 'To' number is not a mobile number, so it cannot receive SMS.</summary>
    public const int NotAMobileNumber = 21614;

    /// <summary>30003: the destination handset is unreachable.</summary>
    public const int UnreachableHandset = 30003;

    /// <summary>30005: unknown destination handset (the number may not exist).</summary>
    public const int UnknownHandset = 30005;

    /// <summary>30006: landline or unreachable carrier.</summary>
    public const int LandlineOrUnreachableCarrier = 30006;

    /// <summary>30007: the carrier filtered the message.</summary>
    public const int CarrierFiltered = 30007;

    /// <summary>30008: unknown delivery error.</summary>
    public const int UnknownDeliveryError = 30008;

    /// <summary>63016: WhatsApp free-form message outside the 24-hour window; a template is required.</summary>
    public const int WhatsAppOutsideSessionWindow = 63016;

    /// <summary>Whether a message status callback's ErrorCode means the message was not delivered to the handset.</summary>
    public static bool IsDeliveryFailure(int? errorCode) =>
        errorCode is UnreachableHandset or UnknownHandset or LandlineOrUnreachableCarrier or CarrierFiltered or UnknownDeliveryError;
}
