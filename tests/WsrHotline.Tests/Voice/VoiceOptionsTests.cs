using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

/// <summary>The voice settings an operator changes for the console's call work: dispositions, wrap-up, interpreters.</summary>
public sealed class VoiceOptionsTests
{
    private static VoiceOptions Bind(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddVoiceIntake();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<VoiceOptions>>().Value;
    }

    [Fact]
    public void Settings_add_dispositions_and_an_empty_label_removes_a_default_one()
    {
        var options = Bind(new()
        {
            ["Voice:Dispositions:referred"] = "",
            ["Voice:Dispositions:legal_aid"] = "Referred to legal aid",
        });

        var offered = options.OfferedDispositions.Select(d => d.Key).ToArray();
        Assert.DoesNotContain("referred", offered);
        Assert.Contains("legal_aid", offered);
        Assert.Contains("new_complaint", offered);
    }

    [Theory]
    [InlineData("Voice:WrapUpMaximum", "-00:00:01", "Voice:WrapUpMaximum")]
    [InlineData("Voice:RecordingCopyMaxAttempts", "0", "Voice:RecordingCopyMaxAttempts")]
    [InlineData("Voice:Interpreters:mam:Name", "Mam interpreter", "Voice:Interpreters")]
    public void A_setting_the_console_cannot_work_with_is_refused_at_start(string key, string value, string named)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind(new() { [key] = value }));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Removing_every_disposition_is_refused_at_start()
    {
        var settings = new VoiceOptions().Dispositions.Keys.ToDictionary(code => $"Voice:Dispositions:{code}", _ => (string?)"");
        var error = Assert.Throws<OptionsValidationException>(() => Bind(settings));
        Assert.Contains("Voice:Dispositions", error.Message, StringComparison.Ordinal);
    }
}
