using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio.Tests;

public class TwilioOptionsTests
{
    private static readonly Dictionary<string, string?> ValidSettings = new()
    {
        ["Twilio:AccountSid"] = "AC0001",
        ["Twilio:AuthToken"] = "token",
    };

    [Fact]
    public void Valid_settings_bind_with_defaults()
    {
        var options = Resolve(ValidSettings);

        Assert.Equal("AC0001", options.AccountSid);
        Assert.Equal("https://api.twilio.com", options.ApiBaseUrl);
        Assert.True(options.ValidateSignatures);
        Assert.Equal(4, options.MaxAttempts);
        Assert.Null(options.PublicBaseUrl);
    }

    [Theory]
    [InlineData("Twilio:AuthToken", "", "Twilio:AuthToken is missing: set it in configuration or the environment variable Twilio__AuthToken.")]
    [InlineData("Twilio:AccountSid", "", "Twilio:AccountSid is missing")]
    [InlineData("Twilio:AccountSid", "SK0001", "must be the Account SID that starts with 'AC'")]
    [InlineData("Twilio:ApiBaseUrl", "api.twilio.com", "Twilio:ApiBaseUrl must be an absolute http(s) URL")]
    [InlineData("Twilio:ApiBaseUrl", "ftp://api.twilio.com", "Twilio:ApiBaseUrl must be an absolute http(s) URL")]
    [InlineData("Twilio:PublicBaseUrl", "/hotline", "Twilio:PublicBaseUrl must be an absolute http(s) URL")]
    [InlineData("Twilio:MaxAttempts", "0", "Twilio:MaxAttempts must be at least 1")]
    public void Invalid_settings_are_explained(string key, string value, string expectedMessage)
    {
        var settings = new Dictionary<string, string?>(ValidSettings) { [key] = value };

        var error = Assert.Throws<OptionsValidationException>(() => Resolve(settings));

        Assert.Contains(expectedMessage, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_settings_stop_the_app_at_start()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddTwilioClient(builder.Configuration);
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("Twilio__AuthToken", error.Message, StringComparison.Ordinal);
    }

    private static TwilioOptions Resolve(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddTwilioClient(configuration);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<TwilioOptions>>().Value;
    }
}
