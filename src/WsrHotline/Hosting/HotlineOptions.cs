using System.Text.RegularExpressions;

namespace WsrHotline.Hosting;

/// <summary>The hotline's own numbers (section <c>Hotline</c>): what workers call and text.</summary>
public sealed partial class HotlineOptions
{
    /// <summary>The toll-free voice number, E.164 (its Voice URL points at /twilio/voice/incoming).</summary>
    public string TollFreeNumber { get; set; } = "";

    /// <summary>The SMS number, E.164 (its Messaging URL points at /twilio/messaging/incoming).</summary>
    public string SmsNumber { get; set; } = "";

    /// <summary>The WhatsApp sender, <c>whatsapp:+E.164</c>.</summary>
    public string WhatsAppSender { get; set; } = "";

    /// <summary>Numbers rung straight away when the database is down, E.164.</summary>
    public List<string> EmergencyOnCallNumbers { get; set; } = [];

    internal bool AllNumbersValid() =>
        IsE164(TollFreeNumber)
        && IsE164(SmsNumber)
        && WhatsAppSender.StartsWith("whatsapp:", StringComparison.Ordinal) && IsE164(WhatsAppSender["whatsapp:".Length..])
        && EmergencyOnCallNumbers.All(IsE164);

    private static bool IsE164(string value) => E164().IsMatch(value);

    [GeneratedRegex(@"^\+[1-9][0-9]{6,14}$")]
    private static partial Regex E164();
}
