namespace WsrHotline.Simulator;

/// <summary>The call simulator (section <c>Simulator</c>). Development and Testing only.</summary>
public sealed class SimulatorOptions
{
    public const string SectionName = "Simulator";

    /// <summary>Serve the simulator page, its API, the Twilio REST stand-in and recordings under /simulator.</summary>
    public bool Enabled { get; set; }

    /// <summary>The voice webhook a simulated call rings (Twilio console: "A call comes in").</summary>
    public string VoiceUrl { get; set; } = "/twilio/voice/incoming";

    /// <summary>The number-level status callback (Twilio console: "Call status changes"); empty for none.</summary>
    public string? StatusCallbackUrl { get; set; } = "/twilio/voice/status";

    /// <summary>The number's fallback (Twilio console: "Primary handler fails"), requested when the voice URL fails.</summary>
    public string? FallbackUrl { get; set; }

    /// <summary>The number a simulated worker calls when none is given.</summary>
    public string DefaultTo { get; set; } = "+18005550100";

    /// <summary>Investigators' numbers nobody set a behaviour for ring on the page (true in the local run).</summary>
    public bool UnknownPhonesRingForAPerson { get; set; }
}
