using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Simulator;

/// <summary>
/// The real hotline on a real loopback port, with the call simulator enabled and Twilio's REST API
/// pointed at the simulator's stand-in: end-to-end IVR tests call it like a worker would.
/// <code>
/// await using var hotline = SimulatedHotline.Start(database.ConnectionString);
/// var call = await hotline.Simulator.CallAsync(from: "+15555550123");
/// await call.PressAsync("2");
/// </code>
/// Twilio calls the app at Twilio:PublicBaseUrl (https://hotline.test in tests): the simulator signs that
/// URL and sends the request to the port the app listens on, so the app's signature check runs for real.
/// </summary>
public sealed class SimulatedHotline : IAsyncDisposable
{
    private SimulatedHotline(HotlineFactory factory, int port)
    {
        Factory = factory;
        BaseUrl = $"http://127.0.0.1:{port}";
        Simulator = factory.Services.GetRequiredService<VoiceSimulator>();
    }

    public HotlineFactory Factory { get; }

    /// <summary>Where the app listens (a browser opens pages here).</summary>
    public string BaseUrl { get; }

    public VoiceSimulator Simulator { get; }

    /// <param name="adjust">Changes settings before start; it gets the chosen port too (for settings that name it).</param>
    /// <param name="environment">"Development" runs it with the local run's appsettings.Development.json.</param>
    public static SimulatedHotline Start(string connectionString, Action<Dictionary<string, string?>, int> adjust, string environment)
    {
        // The REST client's base address is fixed before the server starts, so the port is chosen here.
        var port = TestHostOptions.FreeLoopbackPort();
        var factory = new HotlineFactory(new TestHostOptions(connectionString)
        {
            Simulator = true,
            LoopbackPort = port,
            Settings = settings => adjust(settings, port),
            Environment = environment,
        });
        try
        {
            factory.StartServer();
            return new SimulatedHotline(factory, port);
        }
        catch
        {
            factory.Dispose();
            throw;
        }
    }

    /// <param name="adjust">Changes settings before start, e.g. <c>s => s["Simulator:FallbackUrl"] = "/fallback.xml"</c>.</param>
    public static SimulatedHotline Start(string connectionString, Action<Dictionary<string, string?>>? adjust = null) =>
        Start(connectionString, (settings, _) => adjust?.Invoke(settings), SimulatorExtensions.TestingEnvironment);

    /// <summary>An HTTP client to the app itself (real HTTP over loopback).</summary>
    public HttpClient CreateClient() => Factory.CreateClient();

    public ValueTask DisposeAsync() => Factory.DisposeAsync();
}
