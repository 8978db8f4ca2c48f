namespace WsrHotline.Twilio;

/// <summary>
/// Settings for talking to Twilio, bound from the <c>Twilio</c> configuration section
/// (environment variables use a double underscore, e.g. <c>Twilio__AuthToken</c>).
/// </summary>
public sealed class TwilioOptions
{
    public const string SectionName = "Twilio";

    /// <summary>The Account SID ("AC…"); used in REST paths and as the Basic auth user name.</summary>
    public string AccountSid { get; set; } = "";

    /// <summary>The Auth Token; signs webhooks and is the Basic auth password. A secret: never log it.</summary>
    public string AuthToken { get; set; } = "";

    /// <summary>
    /// The public https base address Twilio calls, e.g. <c>https://hotline.example.org</c>.
    /// Twilio signs the URL it called, which behind a reverse proxy is not the URL this process sees,
    /// so the signature check rebuilds the URL from this value. When empty, the request's own
    /// scheme and host are used.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Base address of Twilio's REST API; tests point it at a local listener.</summary>
    public string ApiBaseUrl { get; set; } = "https://api.twilio.com";

    /// <summary>
    /// The hosts a worker's attachment is downloaded from, comma-separated: a name, or <c>*.</c> and a
    /// domain for any host under it; https on the default port only. A media URL (and every redirect)
    /// elsewhere is refused before any connection. Anything under <see cref="ApiBaseUrl"/> is allowed
    /// too (the simulator's stand-in in the local run and tests). The defaults are Twilio's: the
    /// MediaUrl's host, the media CDN that secured media redirects to, and the S3 host of media
    /// stored before HTTP authentication was required. Add a regional API host here (e.g.
    /// <c>api.dublin.ie1.twilio.com</c>) if the account uses one.
    /// </summary>
    public string MediaAllowedHosts { get; set; } = DefaultMediaAllowedHosts;

    /// <summary>The default of <see cref="MediaAllowedHosts"/>.</summary>
    public const string DefaultMediaAllowedHosts = "api.twilio.com,*.twiliocdn.com,s3-external-1.amazonaws.com";

    /// <summary>
    /// Whether webhooks must carry a valid <c>X-Twilio-Signature</c>.
    /// Turn off only for local development; in production a forged webhook could inject fake reports.
    /// </summary>
    public bool ValidateSignatures { get; set; } = true;

    /// <summary>How many times a REST call is tried in total before giving up (at least 1).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>First retry delay; later retries double it, plus random jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound for any single retry delay, including a server-sent Retry-After.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one HTTP attempt against the REST API.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
