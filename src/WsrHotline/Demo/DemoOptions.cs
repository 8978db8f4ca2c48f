namespace WsrHotline.Demo;

/// <summary>The local run's demo data (section <c>Demo</c>). Development only.</summary>
public sealed class DemoOptions
{
    /// <summary>Seed languages, staff with known passwords, a 24/7 rota, suppliers, buyers and a sample Code.</summary>
    public bool SeedOnStart { get; set; }

    /// <summary>How many days ahead the demo rota is kept filled (extended at every start).</summary>
    public int RotaDays { get; set; } = 30;
}
