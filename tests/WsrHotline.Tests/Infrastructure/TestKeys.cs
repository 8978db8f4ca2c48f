namespace WsrHotline.Tests.Infrastructure;

/// <summary>Fixed keys and settings for tests (never used outside them).</summary>
public static class TestKeys
{
    public const string PiiKeyId = "test-1";
    public static readonly string PiiKey = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    public static readonly string PiiLookupKey = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());

    public const string TwilioAccountSid = "AC11111111111111111111111111111111";
    public const string TwilioAuthToken = "test-auth-token-0123456789abcdef";

    /// <summary>Every setting the app requires, as ASP.NET Core configuration keys.</summary>
    public static Dictionary<string, string?> AppSettings(string connectionString) => new()
    {
        ["ConnectionStrings:Hotline"] = connectionString,
        ["Pii:ActiveKeyId"] = PiiKeyId,
        [$"Pii:Keys:{PiiKeyId}"] = PiiKey,
        ["Pii:LookupKey"] = PiiLookupKey,
        ["Twilio:AccountSid"] = TwilioAccountSid,
        ["Twilio:AuthToken"] = TwilioAuthToken,
        ["Twilio:PublicBaseUrl"] = "https://hotline.test",
        ["Hotline:TollFreeNumber"] = "+18005550100",
        ["Hotline:SmsNumber"] = "+18005550101",
        ["Hotline:WhatsAppSender"] = "whatsapp:+18005550102",
        ["Hotline:EmergencyOnCallNumbers:0"] = "+15555550117",
        // Each app under test keeps its outage spool apart, and never in the source tree.
        // No Hangfire server unless a test asks for one: tests call the job services directly, on
        // their own (fake) clock, and a host without a server starts and stops faster.
        ["Jobs:Enabled"] = "false",
        ["Spool:Path"] = Path.Combine(Path.GetTempPath(), "wsr-test-spool-" + Guid.NewGuid().ToString("N")),
    };
}
