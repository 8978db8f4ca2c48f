using WsrHotline.Simulator;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Simulator;

/// <summary>The simulator against a TwiML app of the test's own, over real HTTP both ways.</summary>
public sealed class VoiceSimulatorTests : IAsyncLifetime
{
    private const string Caller = "+15555550123";
    private const string TollFree = "+18005550100";
    private FakeHotline hotline = null!;

    private VoiceSimulator Simulator => hotline.Simulator;

    public async Task InitializeAsync() => hotline = await FakeHotline.StartAsync();

    public async Task DisposeAsync()
    {
        // Every request the simulator made carried a valid signature, unless a test forged one.
        Assert.Equal(0, hotline.InvalidSignatures);
        await hotline.DisposeAsync();
    }

    [Fact]
    public async Task Digits_pressed_at_a_gather_are_posted_to_its_relative_action_and_its_twiml_runs()
    {
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Gather(new Gather { NumDigits = 1, Action = "language" }
                .Say("Para español, oprima 2.", voice: "Polly.Lupe", language: "es-US")
                .Say("বাংলার জন্য ৩ চাপুন।", language: "bn-IN"))
            .Say("No input.")
            .Hangup());
        hotline.On("/twilio/voice/language", form => new VoiceResponse().Say($"You chose {form["Digits"]}.").Hangup());

        var call = await Simulator.CallAsync(from: Caller, to: TollFree);

        Assert.Equal(CallState.WaitingForDigits, call.State);
        Assert.Equal(["Para español, oprima 2.", "বাংলার জন্য ৩ চাপুন।"], call.Heard);
        Assert.Contains(call.Transcript, e => e is Said { Language: "es-US", Voice: "Polly.Lupe" });

        await call.PressAsync("2");

        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal("You chose 2.", call.Heard[^1]);
        Assert.DoesNotContain("No input.", call.Heard);
        var incoming = Assert.Single(hotline.Requests("/twilio/voice/incoming"));
        Assert.Equal("ringing", incoming["CallStatus"]);
        Assert.Equal("inbound", incoming["Direction"]);
        Assert.Equal(Caller, incoming["From"]);
        Assert.Equal(TollFree, incoming["To"]);
        Assert.Equal(TestKeysAccount, incoming["AccountSid"]);
        Assert.Matches("^CA[0-9a-f]{32}$", incoming["CallSid"]);
        var action = Assert.Single(hotline.Requests("/twilio/voice/language"));
        Assert.Equal("2", action["Digits"]);
        Assert.Equal("in-progress", action["CallStatus"]);
        Assert.Equal(call.Sid, action["CallSid"]);
        var status = Assert.Single(hotline.Requests("/twilio/voice/status"));
        Assert.Equal("completed", status["CallStatus"]);
        Assert.True(int.Parse(status["CallDuration"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    private const string TestKeysAccount = Infrastructure.TestKeys.TwilioAccountSid;
}
