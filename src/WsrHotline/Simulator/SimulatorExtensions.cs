using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using WsrHotline.Hosting;
using WsrHotline.Twilio;

namespace WsrHotline.Simulator;

public static class SimulatorExtensions
{
    /// <summary>The environment the end-to-end tests run the app in.</summary>
    public const string TestingEnvironment = "Testing";

    internal const string HttpClientName = "VoiceSimulator";

    /// <summary>
    /// Registers the call simulator. It exists only when <c>Simulator:Enabled</c> is true, and that is
    /// refused at start outside Development and Testing: in production it would let anyone with the
    /// page place calls into the app and read what callers typed.
    /// </summary>
    public static IServiceCollection AddVoiceSimulator(this IServiceCollection services, IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        services.AddOptions<SimulatorOptions>()
            .BindConfiguration(SimulatorOptions.SectionName)
            .Validate(options => !options.Enabled || IsAllowed(environment),
                $"Simulator:Enabled is true in the '{environment.EnvironmentName}' environment. The call simulator fakes " +
                "Twilio and shows what callers typed: it runs only in Development or Testing. Remove it (or set Simulator__Enabled=false).")
            .Validate(options => options.VoiceUrl.StartsWith('/'),
                "Simulator:VoiceUrl must be a path on the app, such as /twilio/voice/incoming.")
            .ValidateOnStart();

        // Twilio gives up on a webhook after 15 seconds; redirects are not followed (Twilio does not either).
        services.AddHttpClient(HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(15))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });

        // Created on first use, after the server started: it needs the address the app listens on.
        services.AddSingleton(provider =>
        {
            var twilio = provider.GetRequiredService<IOptions<TwilioOptions>>().Value;
            var simulator = provider.GetRequiredService<IOptions<SimulatorOptions>>().Value;
            var hotline = provider.GetRequiredService<IOptions<HotlineOptions>>().Value;
            var listening = ListeningAddress(provider.GetRequiredService<IServer>())
                ?? throw new InvalidOperationException("The call simulator needs the app's listening address, which exists only once the server has started.");
            var appBase = string.IsNullOrWhiteSpace(twilio.PublicBaseUrl) ? listening : new Uri(twilio.PublicBaseUrl.TrimEnd('/') + "/");
            return new VoiceSimulator(
                provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
                new VoiceSimulatorSettings
                {
                    AppBaseUrl = appBase,
                    TransportBaseUrl = listening,
                    ApiBaseUrl = twilio.ApiBaseUrl.Contains(TwilioApiStandIn.BasePath, StringComparison.Ordinal) ? new Uri(twilio.ApiBaseUrl.TrimEnd('/') + "/") : null,
                    AccountSid = twilio.AccountSid,
                    AuthToken = twilio.AuthToken,
                    VoiceUrl = simulator.VoiceUrl,
                    StatusCallbackUrl = string.IsNullOrWhiteSpace(simulator.StatusCallbackUrl) ? null : simulator.StatusCallbackUrl,
                    FallbackUrl = string.IsNullOrWhiteSpace(simulator.FallbackUrl) ? null : simulator.FallbackUrl,
                    DefaultTo = simulator.DefaultTo,
                    UnknownPhonesRingForAPerson = simulator.UnknownPhonesRingForAPerson,
                    SmsNumber = hotline.SmsNumber,
                    WhatsAppSender = hotline.WhatsAppSender,
                },
                provider.GetRequiredService<ILogger<VoiceSimulator>>());
        });
        return services;
    }

    /// <summary>
    /// Maps the simulator when it is enabled: the page (<c>/simulator/</c>), its JSON API
    /// (<c>/simulator/api/</c>), the Twilio REST stand-in (<c>/simulator/twilio/</c>, with the media of workers' texts) and recordings
    /// (<c>/simulator/recordings/{RecordingSid}</c>). When disabled nothing is mapped.
    /// </summary>
    public static WebApplication MapVoiceSimulator(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<SimulatorOptions>>().Value;
        if (!options.Enabled || !IsAllowed(app.Environment))
        {
            return app;
        }

        var simulator = app.MapGroup("/simulator").ExcludeFromDescription();
        TwilioApiStandIn.Map(simulator);
        SimulatorApi.Map(simulator.MapGroup("/api"));
        SimulatorPage.Map(simulator);
        simulator.MapGet("/recordings/{file}", (string file, VoiceSimulator voice) =>
        {
            // Like Twilio's RecordingUrl, with or without a ".wav" extension.
            var sid = Path.GetFileNameWithoutExtension(file);
            return voice.RecordingDuration(sid) is { } seconds
                ? Results.File(RecordingAudio.Wav(seconds), "audio/x-wav")
                : Results.NotFound();
        });
        return app;
    }

    private static bool IsAllowed(IHostEnvironment environment) =>
        environment.IsDevelopment() || environment.IsEnvironment(TestingEnvironment);

    /// <summary>The first http address the server listens on, wildcards turned into localhost.</summary>
    private static Uri? ListeningAddress(IServer server)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) ?? addresses.FirstOrDefault();
        if (address is null)
        {
            return null;
        }

        var builder = new UriBuilder(address.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal));
        if (builder.Host is "0.0.0.0" or "[::]" or "::")
        {
            builder.Host = "localhost";
        }

        builder.Path = "/";
        return builder.Uri;
    }
}
