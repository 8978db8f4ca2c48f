using WsrHotline.Hosting;
using WsrHotline.Intake;

namespace WsrHotline.Messaging;

/// <summary>Which channel a text came in on, from the hotline number it was sent to (Twilio's <c>To</c>).</summary>
public static class HotlineNumbers
{
    /// <summary>The channel of a text sent to <c>to</c>, and whether that number is one the configuration names.</summary>
    /// <remarks>
    /// The SMS number and the toll-free number (on the posters; Twilio's toll-free numbers take SMS) are
    /// SMS, the WhatsApp sender is WhatsApp. Any other address was still signed by Twilio for this
    /// account, so it is one of the account's numbers whose webhook points here: the text is taken in
    /// on the channel its address says (<c>whatsapp:</c> or SMS) and flagged, never dropped.
    /// </remarks>
    public static (string Channel, bool Configured) Classify(string to, HotlineOptions hotline)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(hotline);
        if (string.Equals(to, hotline.SmsNumber, StringComparison.Ordinal) || string.Equals(to, hotline.TollFreeNumber, StringComparison.Ordinal))
        {
            return (Channels.Sms, true);
        }

        if (string.Equals(to, hotline.WhatsAppSender, StringComparison.OrdinalIgnoreCase))
        {
            return (Channels.WhatsApp, true);
        }

        return (to.StartsWith("whatsapp:", StringComparison.OrdinalIgnoreCase) ? Channels.WhatsApp : Channels.Sms, false);
    }

    /// <summary>Every number the hotline takes texts on, as Twilio writes them in <c>To</c>.</summary>
    public static IReadOnlyList<string> All(HotlineOptions hotline)
    {
        ArgumentNullException.ThrowIfNull(hotline);
        return [.. new[] { hotline.SmsNumber, hotline.TollFreeNumber, hotline.WhatsAppSender }.Where(n => n.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)];
    }
}
