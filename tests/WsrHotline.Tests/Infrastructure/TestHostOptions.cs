using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// How a test runs the hotline: what <see cref="HotlineFactory"/> builds (in this process), and the
/// settings a <c>HotlineProcess</c> runs with (another process). Every test host starts from
/// <see cref="TestKeys.AppSettings"/>; the options only add to it.
/// <code>
/// new HotlineFactory(new TestHostOptions(connectionString) { Time = clock, Settings = s => s["Jobs:Enabled"] = "true" });
/// </code>
/// </summary>
/// <param name="ConnectionString">The database (<c>ConnectionStrings:Hotline</c>).</param>
public sealed record TestHostOptions(string ConnectionString)
{
    /// <summary>"Development" runs the app with the local run's appsettings.Development.json.</summary>
    public string Environment { get; init; } = "Testing";

    /// <summary>
    /// Changes the settings last, after the simulator's: set a key, or remove it (or set it to null)
    /// to leave it out.
    /// </summary>
    public Action<Dictionary<string, string?>>? Settings { get; init; }

    /// <summary>The app's <see cref="TimeProvider"/> (a FakeTimeProvider the test moves); null: the real clock.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>
    /// The call simulator on (<c>Simulator:Enabled</c>); with a <see cref="LoopbackPort"/>, Twilio's REST
    /// API is pointed at the simulator's stand-in on that port.
    /// </summary>
    public bool Simulator { get; init; }

    /// <summary>Kestrel on this loopback port (real HTTP, for a browser or the simulator); null: the in-memory test server.</summary>
    public int? LoopbackPort { get; init; }

    /// <summary>A request's <see cref="SourceAddresses.HeaderName"/> header becomes its remote address (in-memory server only).</summary>
    public bool SourceAddresses { get; init; }

    /// <summary>Runs after the app's own registrations (and after <see cref="Time"/>): a test's stand-in or exporter.</summary>
    public Action<IServiceCollection>? Services { get; init; }

    /// <summary>
    /// The settings of a host with these options. Each call makes a new <c>Spool:Path</c>: an instance
    /// that must find its spool again after a restart keeps the dictionary.
    /// </summary>
    public Dictionary<string, string?> AppSettings()
    {
        var settings = TestKeys.AppSettings(ConnectionString);
        if (Simulator)
        {
            settings["Simulator:Enabled"] = "true";
            if (LoopbackPort is { } port)
            {
                settings["Twilio:ApiBaseUrl"] = $"http://127.0.0.1:{port}/simulator/twilio";
            }
        }
        Settings?.Invoke(settings);
        return settings;
    }

    /// <summary>
    /// A loopback port free a moment ago, for a host whose settings must name its port before it starts
    /// (another process may take it in between; rare enough for tests).
    /// </summary>
    public static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
