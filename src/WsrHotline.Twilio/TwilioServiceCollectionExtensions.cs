using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

public static class TwilioServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="TwilioOptions"/> from the <c>Twilio</c> section, validates it when the host
    /// starts (so a missing secret stops the service at deploy time, not at the first call), and
    /// registers the REST client (<see cref="TwilioRestServiceCollectionExtensions.AddTwilioRestClient"/>). Named like <c>Twilio.AspNet.Core</c>'s
    /// registration, which this registry does not serve. Webhook signatures need nothing registered
    /// beyond the options: <c>ValidateTwilioRequest()</c> reads them.
    /// </summary>
    public static IServiceCollection AddTwilioClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<TwilioOptions>()
            .Bind(configuration.GetSection(TwilioOptions.SectionName))
            .Validate(o => !string.IsNullOrWhiteSpace(o.AccountSid),
                "Twilio:AccountSid is missing: set it in configuration or the environment variable Twilio__AccountSid.")
            .Validate(o => string.IsNullOrWhiteSpace(o.AccountSid) || o.AccountSid.StartsWith("AC", StringComparison.Ordinal),
                "Twilio:AccountSid must be the Account SID that starts with 'AC' (see the Twilio console).")
            .Validate(o => !string.IsNullOrWhiteSpace(o.AuthToken),
                "Twilio:AuthToken is missing: set it in configuration or the environment variable Twilio__AuthToken.")
            .Validate(o => IsAbsoluteHttpUrl(o.ApiBaseUrl),
                "Twilio:ApiBaseUrl must be an absolute http(s) URL such as https://api.twilio.com.")
            .Validate(o => string.IsNullOrWhiteSpace(o.PublicBaseUrl) || IsAbsoluteHttpUrl(o.PublicBaseUrl),
                "Twilio:PublicBaseUrl must be an absolute http(s) URL such as https://hotline.example.org, or empty.")
            .Validate(o => MediaHosts.ParsePatterns(o.MediaAllowedHosts).All(MediaHosts.IsValidPattern),
                "Twilio:MediaAllowedHosts must be a comma-separated list of host names, each optionally starting with '*.' " +
                $"(no addresses, ports or bare wildcards); the default is {TwilioOptions.DefaultMediaAllowedHosts}.")
            .Validate(o => o.MaxAttempts >= 1,
                "Twilio:MaxAttempts must be at least 1.")
            .ValidateOnStart();

        return services.AddTwilioRestClient();
    }

    private static bool IsAbsoluteHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp);
}
