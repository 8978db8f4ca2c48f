using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using WsrHotline.Ivr;
using WsrHotline.LiveConsole;
using WsrHotline.Tests.Ivr;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.LiveConsole;

public sealed class ConsoleSupportTests
{
    [Fact]
    public void A_voice_sdk_token_is_a_jwt_signed_with_the_api_key_secret_and_grants_incoming_calls_to_the_staff_identity()
    {
        var tokens = new VoiceTokens(
            Options.Create(new VoiceSdkOptions { ApiKeySid = "SK123", ApiKeySecret = "key-secret-0123456789abcdef0123456", TwimlAppSid = "AP456" }),
            Options.Create(new TwilioOptions { AccountSid = "AC789" }),
            TimeProvider.System);

        var parts = tokens.Create("staff-7").Split('.');

        Assert.Equal(3, parts.Length);
        var header = JsonDocument.Parse(FromBase64Url(parts[0])).RootElement;
        var payload = JsonDocument.Parse(FromBase64Url(parts[1])).RootElement;
        Assert.Equal("twilio-fpa;v=1", header.GetProperty("cty").GetString());
        Assert.Equal("HS256", header.GetProperty("alg").GetString());
        Assert.Equal("SK123", payload.GetProperty("iss").GetString());
        Assert.Equal("AC789", payload.GetProperty("sub").GetString());
        var grants = payload.GetProperty("grants");
        Assert.Equal("staff-7", grants.GetProperty("identity").GetString());
        Assert.True(grants.GetProperty("voice").GetProperty("incoming").GetProperty("allow").GetBoolean());
        Assert.Equal("AP456", grants.GetProperty("voice").GetProperty("outgoing").GetProperty("application_sid").GetString());
        Assert.True(payload.GetProperty("exp").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes("key-secret-0123456789abcdef0123456"), Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        Assert.Equal(expected, FromBase64Url(parts[2]));
    }

    [Fact]
    public void A_voice_sdk_secret_too_short_to_sign_a_token_is_refused_at_start()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["VoiceSdk:ApiKeySid"] = "SK123",
            ["VoiceSdk:ApiKeySecret"] = "key-secret",
            ["VoiceSdk:TwimlAppSid"] = "AP456",
        }).Build());
        services.AddLiveConsole();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<VoiceSdkOptions>>().Value);
        Assert.Contains("VoiceSdk:ApiKeySecret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_canned_response_has_a_label_and_text_in_every_hotline_language()
    {
        var flowsPath = FlowsCopy.ShippedPath;
        var languages = IvrFlowLoader.Load(flowsPath).Languages.Select(language => language.Code).ToArray();
        var canned = new CannedResponses(Options.Create(new IvrOptions { FlowsPath = flowsPath }), new Environment(flowsPath));

        var inventory = canned.Inventory();

        Assert.NotEmpty(inventory);
        Assert.All(inventory, entry => Assert.Equal(languages.Order(), entry.Languages.Order()));
        Assert.All(languages, language => Assert.Equal(inventory.Count, canned.For(language).Count));
        Assert.Contains(canned.For("bn"), response => response.Text.Contains("নিরাপদ", StringComparison.Ordinal));
    }

    private static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded.PadRight(padded.Length + ((4 - (padded.Length % 4)) % 4), '='));
    }

    private sealed class Environment(string root) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Testing";
        public string ApplicationName { get; set; } = "WsrHotline";
        public string ContentRootPath { get; set; } = root;
        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }
}
