using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WsrHotline.Ivr;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Ivr;

/// <summary>Editing the flow on disk changes what callers hear, without a restart; a broken edit changes nothing.</summary>
public sealed class IvrFlowProviderTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly FlowsCopy flows = new();
    private readonly CapturedLogs logs = new();
    private readonly ILoggerFactory loggerFactory;
    private readonly IvrFlowProvider provider;

    public IvrFlowProviderTests()
    {
        loggerFactory = LoggerFactory.Create(logging => logging.AddProvider(logs));
        provider = new IvrFlowProvider(
            Options.Create(new IvrOptions { FlowsPath = flows.Path, ReloadOnChange = true }),
            new HostingEnvironment { ContentRootPath = Path.GetTempPath() },
            TimeProvider.System,
            loggerFactory.CreateLogger<IvrFlowProvider>());
        provider.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        provider.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        provider.Dispose();
        loggerFactory.Dispose();
        flows.Dispose();
    }

    private string SpanishGoodbye => provider.Current.FindLanguage("es")!.Prompts[IvrPromptKeys.Goodbye].Text;

    [Fact]
    public async Task An_edited_prompt_is_live_within_seconds_and_a_broken_edit_keeps_the_previous_flow()
    {
        Assert.Equal("Gracias por llamar. Adiós.", SpanishGoodbye);

        flows.Replace("prompts/es.yaml", "Gracias por llamar. Adiós.", "Gracias por su llamada. Adiós.");
        await Eventually.TrueAsync(() => SpanishGoodbye == "Gracias por su llamada. Adiós.", "the edit picked up", Patience);
        Assert.Contains(logs.Lines, line => line.Contains("[2002] IVR flow reloaded", StringComparison.Ordinal));

        var before = provider.Current;
        flows.Replace("prompts/es.yaml", "goodbye: \"Gracias por su llamada. Adiós.\"", "goodbye: \"Gracias por su llamada, {nombre}.\"");
        await Eventually.TrueAsync(() => logs.Lines.Any(line => line.Contains("[2003]", StringComparison.Ordinal)), "the broken edit logged", Patience);

        Assert.Same(before, provider.Current);
        Assert.Equal("Gracias por su llamada. Adiós.", SpanishGoodbye);
        var refusal = logs.Lines.Single(line => line.Contains("[2003]", StringComparison.Ordinal));
        Assert.StartsWith("Error", refusal, StringComparison.Ordinal);
        Assert.Contains("ivr-flows/prompts/es.yaml:", refusal, StringComparison.Ordinal);
        Assert.Contains("unknown placeholder {nombre}", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replaced_recording_gets_a_new_url()
    {
        var before = provider.Current.Render("ht", IvrPromptKeys.Goodbye, null, "https://hotline.test/ivr-audio").Text;
        var url = Url(provider.Current);

        File.Copy(flows.Full("audio/ht/greeting.wav"), flows.Full("audio/ht/goodbye.wav"), overwrite: true);

        await Eventually.TrueAsync(() => Url(provider.Current) != url, "the new recording picked up", Patience);
        Assert.Equal(before, provider.Current.Render("ht", IvrPromptKeys.Goodbye, null, "https://hotline.test/ivr-audio").Text);

        static string Url(WsrHotline.Ivr.IvrFlow flow) =>
            ((PlaySegment)flow.Render("ht", IvrPromptKeys.Goodbye, null, "https://hotline.test/ivr-audio").Segments[0]).Url;
    }

    [Fact]
    public void Reload_says_whether_the_new_flow_was_taken()
    {
        Assert.True(provider.Reload());

        flows.Delete("audio/ht/goodbye.wav");

        Assert.False(provider.Reload());
        Assert.NotNull(provider.Current.FindLanguage("ht")!.Prompts[IvrPromptKeys.Goodbye]);
    }
}
