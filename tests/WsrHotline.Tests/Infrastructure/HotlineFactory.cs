using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The one way the tests build the app in this process: the real app over a real database, as
/// <see cref="TestHostOptions"/> say (settings, clock, simulator, in-memory or on a loopback port).
/// Every log line is kept, for PII assertions. Another host with other options is another
/// <c>HotlineFactory</c> (never <c>WithWebHostBuilder</c>, whose derived host would keep its logs elsewhere).
/// </summary>
public sealed class HotlineFactory : WebApplicationFactory<Program>
{
    public HotlineFactory(TestHostOptions options)
    {
        Options = options;
        if (options.LoopbackPort is { } port)
        {
            UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        }
    }

    /// <summary>The in-memory app in <paramref name="environment"/>, with <paramref name="adjust"/> applied to its settings.</summary>
    public HotlineFactory(
        string connectionString, Action<Dictionary<string, string?>>? adjust = null, string environment = "Testing", Action<IServiceCollection>? services = null)
        : this(new TestHostOptions(connectionString) { Settings = adjust, Environment = environment, Services = services })
    {
    }

    public TestHostOptions Options { get; }

    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(Options.Environment);
        foreach (var (key, value) in Options.AppSettings().Where(setting => setting.Value is not null))
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureLogging(logging =>
        {
            logging.AddProvider(Logs);
            logging.SetMinimumLevel(LogLevel.Debug);
        });
        if (Options.SourceAddresses)
        {
            builder.ConfigureServices(services => services.AddSingleton<IStartupFilter, SourceAddresses.FromHeader>());
        }
        builder.ConfigureTestServices(services =>
        {
            if (Options.Time is { } time)
            {
                services.AddSingleton(time);
            }
            Options.Services?.Invoke(services);
        });
    }
}
