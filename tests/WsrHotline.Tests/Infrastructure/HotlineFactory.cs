using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// The real app over a real database, in the "Testing" environment. Settings can be changed or
/// removed per test (remove a key, or set it to null); every log line is kept for PII assertions.
/// <paramref name="services"/> runs after the app's own registrations (a test's exporter, say).
/// </summary>
public sealed class HotlineFactory(
    string connectionString, Action<Dictionary<string, string?>>? adjust = null, string environment = "Testing", Action<IServiceCollection>? services = null)
    : WebApplicationFactory<Program>
{
    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var settings = TestKeys.AppSettings(connectionString);
        adjust?.Invoke(settings);
        builder.UseEnvironment(environment);
        foreach (var (key, value) in settings.Where(setting => setting.Value is not null))
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureLogging(logging =>
        {
            logging.AddProvider(Logs);
            logging.SetMinimumLevel(LogLevel.Debug);
        });
        if (services is not null)
        {
            builder.ConfigureTestServices(services);
        }
    }
}
