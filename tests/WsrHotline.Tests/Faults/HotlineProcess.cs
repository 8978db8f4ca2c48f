using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Reflection;
using WsrHotline.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WsrHotline.Tests.Faults;

/// <summary>
/// The built hotline (src/WsrHotline's output for this test build's configuration) run as a separate
/// process, `dotnet WsrHotline.dll --urls http://127.0.0.1:PORT`, configured by environment variables.
/// Its output goes to the test output, prefixed with its name. <see cref="Kill"/> is SIGKILL; the
/// process is killed on dispose, and when the test process exits, whatever happened.
/// </summary>
public sealed class HotlineProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<HotlineProcess, bool> Running = new();
    private readonly Process process;
    private readonly ITestOutputHelper output;
    private readonly ConcurrentQueue<string> lines = new();

    static HotlineProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var running in Running.Keys)
            {
                running.Kill();
            }
        };
    }

    private HotlineProcess(string name, int port, string? spoolPath, Process process, ITestOutputHelper output)
    {
        Name = name;
        SpoolPath = spoolPath;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        this.process = process;
        this.output = output;
    }

    public string Name { get; }

    public Uri BaseAddress { get; }

    /// <summary>Its <c>Spool:Path</c>: where it keeps webhooks the database could not take.</summary>
    public string? SpoolPath { get; }

    /// <summary>Webhooks waiting in its spool (files on disk, not yet replayed).</summary>
    public int SpoolWaiting =>
        SpoolPath is not null && Directory.Exists(SpoolPath) ? Directory.GetFiles(SpoolPath, "*.spool").Length : 0;

    public bool HasExited => process.HasExited;

    /// <summary>Everything the process printed, for failure messages and PII checks.</summary>
    public IReadOnlyCollection<string> Output => lines;

    /// <summary>The app the tests build: src/WsrHotline/bin/{configuration}/net10.0/WsrHotline.dll.</summary>
    public static string AppPath
    {
        get
        {
            var configuration = typeof(HotlineProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
            var framework = Path.GetFileName(Path.GetDirectoryName(typeof(HotlineProcess).Assembly.Location)!);
            return Path.Combine(PostgresServer.RepositoryRoot, "src", "WsrHotline", "bin", configuration, framework, "WsrHotline.dll");
        }
    }

    /// <summary>
    /// Starts an instance with these settings (configuration keys, from <see cref="TestHostOptions.AppSettings"/>;
    /// ':' becomes '__') and waits until it is ready. Only settings cross the process boundary: a
    /// <see cref="TestHostOptions"/>'s clock, services or port are the in-process host's.
    /// </summary>
    public static async Task<HotlineProcess> StartAsync(string name, IReadOnlyDictionary<string, string?> settings, ITestOutputHelper output)
    {
        Assert.True(File.Exists(AppPath), $"{AppPath} is missing: build the solution first (dotnet build -c Release).");
        var port = TestHostOptions.FreeLoopbackPort();
        var start = new ProcessStartInfo("dotnet", [AppPath, "--urls", $"http://127.0.0.1:{port}"])
        {
            WorkingDirectory = Path.GetDirectoryName(AppPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Only what the test says: nothing inherited from the test host's own ASP.NET settings.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("DOTNET_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in settings.Where(setting => setting.Value is not null))
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var instance = new HotlineProcess(name, port, settings.GetValueOrDefault("Spool:Path"), process, output);
        process.OutputDataReceived += (_, e) => instance.Print(e.Data);
        process.ErrorDataReceived += (_, e) => instance.Print(e.Data);
        Assert.True(process.Start(), $"{name} did not start");
        Running[instance] = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await instance.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return instance;
    }

    /// <summary>Polls /health/ready until it answers 200.</summary>
    public async Task WaitReadyAsync(TimeSpan patience)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        string last = "no answer";
        await Eventually.TrueAsync(async () =>
        {
            Assert.False(process.HasExited, $"{Name} exited ({(process.HasExited ? process.ExitCode : 0)}) before it was ready:\n{Tail()}");
            try
            {
                using var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
                last = $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.GetType().Name;
            }
            return false;
        }, () => $"{Name} ready (last: {last}):\n{Tail()}", patience, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>SIGKILL: no shutdown, no flush; open sockets are reset by the kernel.</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        Running.TryRemove(this, out _);
    }

    public string Tail(int count = 40) => string.Join('\n', lines.TakeLast(count));

    public ValueTask DisposeAsync()
    {
        Kill();
        process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Print(string? line)
    {
        if (line is null)
        {
            return;
        }
        lines.Enqueue(line);
        try
        {
            output.WriteLine($"[{Name}] {line}");
        }
        catch (InvalidOperationException)
        {
            // The test is over; the line is still kept.
        }
    }
}
