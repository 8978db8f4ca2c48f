using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Twilio.Clients;
using SystemNetHttpClient = Twilio.Http.SystemNetHttpClient;

namespace WsrHotline.Twilio;

public static class TwilioRestServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="IHttpClientFactory"/> client under the SDK's <see cref="TwilioRestClient"/>.</summary>
    public const string HttpClientName = "Twilio";

    /// <summary>
    /// Registers the SDK's <see cref="TwilioRestClient"/> (and <see cref="ITwilioRestClient"/>) over an
    /// <see cref="IHttpClientFactory"/> client, and <see cref="TwilioMediaDownloader"/>, with the account
    /// of the bound <see cref="TwilioOptions"/>. Both clients send to <see cref="TwilioOptions.ApiBaseUrl"/>
    /// (<see cref="TwilioApiBaseHandler"/>), retry as <see cref="TwilioRetries"/> says, and connect only
    /// where <see cref="MediaHosts.ConnectAsync"/> allows, with redirects off (Twilio's API does not
    /// redirect; a download follows its redirects itself, each one checked).
    /// </summary>
    public static IServiceCollection AddTwilioRestClient(this IServiceCollection services)
    {
        services.TryAddSingleton<MediaHosts>();

        var sdkClient = services.AddHttpClient(HttpClientName, ConfigureTimeout)
            .ConfigurePrimaryHttpMessageHandler(CheckedConnections)
            .AddHttpMessageHandler(provider => new TwilioApiBaseHandler(provider.GetRequiredService<IOptions<TwilioOptions>>()));
        sdkClient.AddResilienceHandler("twilio-retries", TwilioRetries.Configure);
        sdkClient.AddTypedClient((http, provider) =>
            {
                var options = provider.GetRequiredService<IOptions<TwilioOptions>>().Value;
                return new TwilioRestClient(options.AccountSid, options.AuthToken, httpClient: new SystemNetHttpClient(http));
            });
        services.AddTransient<ITwilioRestClient>(provider => provider.GetRequiredService<TwilioRestClient>());

        services.AddHttpClient<TwilioMediaDownloader>(ConfigureTimeout)
            .ConfigurePrimaryHttpMessageHandler(CheckedConnections)
            .AddResilienceHandler("twilio-media-retries", TwilioRetries.Configure);

        return services;
    }

    // The SDK takes no CancellationToken: the client's timeout is what ends a call that hangs.
    private static void ConfigureTimeout(IServiceProvider provider, HttpClient client) =>
        client.Timeout = TwilioRetries.CallTimeout(provider.GetRequiredService<IOptions<TwilioOptions>>().Value);

    private static SocketsHttpHandler CheckedConnections(IServiceProvider provider) => new()
    {
        AllowAutoRedirect = false,
        ConnectCallback = provider.GetRequiredService<MediaHosts>().ConnectAsync,
    };
}
