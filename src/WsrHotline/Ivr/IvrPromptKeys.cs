namespace WsrHotline.Ivr;

/// <summary>
/// The prompts the app plays by name. Every language must have each of them (the loader refuses a
/// flow that lacks one), so code can use these keys without checking.
/// </summary>
public static class IvrPromptKeys
{
    public const string Greeting = "greeting";
    public const string LanguageOption = "language_option";
    public const string ConfidentialityNotice = "confidentiality_notice";
    public const string MainMenu = "main_menu";
    public const string InvalidInput = "invalid_input";
    public const string Connecting = "connecting";
    public const string HoldMessage = "hold_message";
    public const string OnHold = "on_hold";
    public const string Screening = "screening";
    public const string ScreeningTaken = "screening_taken";
    public const string ScreeningCallerLeft = "screening_caller_left";
    public const string VoicemailOffer = "voicemail_offer";
    public const string VoicemailSaved = "voicemail_saved";
    public const string CaseNumberReadout = "case_number_readout";
    public const string PinReadout = "pin_readout";
    public const string CallbackPromise = "callback_promise";
    public const string StatusCaseNumberPrompt = "status_case_number_prompt";
    public const string StatusPinPrompt = "status_pin_prompt";
    public const string StatusUnknownCase = "status_unknown_case";
    public const string StatusWrongPin = "status_wrong_pin";
    public const string StatusLocked = "status_locked";
    public const string Goodbye = "goodbye";
    public const string EmergencyGreeting = "emergency_greeting";
    public const string EmergencyVoicemail = "emergency_voicemail";

    // Texts for SMS and WhatsApp, in the same files so a language is added in one place. Keys that
    // start with `sms_` are written, never spoken: text only, no audio (see IsTextOnly).
    public const string SmsLanguageMenu = "sms_language_menu";
    public const string SmsWelcome = "sms_welcome";
    public const string SmsCaseOpened = "sms_case_opened";
    public const string SmsReceived = "sms_received";
    public const string SmsEmpty = "sms_empty";
    public const string SmsHelp = "sms_help";
    public const string SmsStopped = "sms_stopped";
    public const string SmsStarted = "sms_started";
    public const string SmsStatusPrompt = "sms_status_prompt";
    public const string SmsStatusWrong = "sms_status_wrong";
    public const string SmsStatusLocked = "sms_status_locked";
    public const string SmsMediaRefusedType = "sms_media_refused_type";
    public const string SmsMediaTooLarge = "sms_media_too_large";
    public const string SmsMediaFailed = "sms_media_failed";
    public const string SmsRetaliationCheckin = "sms_retaliation_checkin";
    public const string SmsCheckinThanks = "sms_checkin_thanks";
    public const string SmsCheckinReopened = "sms_checkin_reopened";

    /// <summary>The prefix of texts that are only ever written (SMS, WhatsApp), never spoken.</summary>
    public const string TextOnlyPrefix = "sms_";

    /// <summary>The complaint statuses of <c>complaints.status</c>, each said by a <c>status_&lt;status&gt;</c> prompt.</summary>
    public static IReadOnlyList<string> ComplaintStatuses { get; } =
    [
        "received", "acknowledged", "investigating", "resolution_proposed", "resolved",
        "verified", "not_substantiated", "rejected", "referred",
    ];

    /// <summary>Every prompt each language must have.</summary>
    public static IReadOnlyList<string> Required { get; } =
    [
        Greeting, LanguageOption, ConfidentialityNotice, MainMenu, InvalidInput, Connecting, HoldMessage, OnHold,
        Screening, ScreeningTaken, ScreeningCallerLeft, VoicemailOffer, VoicemailSaved, CaseNumberReadout,
        PinReadout, CallbackPromise, StatusCaseNumberPrompt, StatusPinPrompt, StatusUnknownCase,
        StatusWrongPin, StatusLocked, .. ComplaintStatuses.Select(ForStatus), Goodbye, EmergencyGreeting,
        EmergencyVoicemail, SmsLanguageMenu, SmsWelcome, SmsCaseOpened, SmsReceived, SmsEmpty, SmsHelp,
        SmsStopped, SmsStarted, SmsStatusPrompt, SmsStatusWrong, SmsStatusLocked, SmsMediaRefusedType, SmsMediaTooLarge,
        SmsMediaFailed,
        SmsRetaliationCheckin, SmsCheckinThanks, SmsCheckinReopened,
    ];

    /// <summary>A text sent by message: it needs no voice and no recording.</summary>
    public static bool IsTextOnly(string key) => key.StartsWith(TextOnlyPrefix, StringComparison.Ordinal);

    /// <summary>The prompt that tells a caller their complaint's status, e.g. <c>status_investigating</c>.</summary>
    public static string ForStatus(string complaintStatus) => "status_" + complaintStatus;
}

/// <summary>The placeholders a prompt's text may hold, written <c>{name}</c>.</summary>
public static class IvrPlaceholders
{
    /// <summary>The language's menu digit; filled in by the renderer.</summary>
    public const string Digit = "digit";

    /// <summary>The language's own name (native_name); filled in by the renderer.</summary>
    public const string Language = "language";

    /// <summary>The caller's case number, read digit by digit; only in <c>case_number_readout</c>, <c>sms_case_opened</c> and <c>sms_retaliation_checkin</c>.</summary>
    public const string CaseNumber = "case_number";

    /// <summary>The caller's PIN, read digit by digit; only in <c>pin_readout</c> and <c>sms_case_opened</c>.</summary>
    public const string Pin = "pin";

    public static IReadOnlyList<string> All { get; } = [Digit, Language, CaseNumber, Pin];

    /// <summary>Placeholders whose value is read digit by digit (and played from digit files in audio).</summary>
    internal static bool IsDigits(string name) => name is Digit or CaseNumber or Pin;

    /// <summary>
    /// Values that belong to one call or conversation, and the prompts the app gives each to (each of
    /// them must say it): anywhere else the renderer would have no value, and a translator's slip
    /// would break the call at run time.
    /// </summary>
    internal static IReadOnlyDictionary<string, string[]> CallValuePrompts { get; } = new Dictionary<string, string[]>
    {
        [CaseNumber] = [IvrPromptKeys.CaseNumberReadout, IvrPromptKeys.SmsCaseOpened, IvrPromptKeys.SmsRetaliationCheckin],
        [Pin] = [IvrPromptKeys.PinReadout, IvrPromptKeys.SmsCaseOpened],
    };
}
