namespace WsrHotline.Ivr;

/// <summary>Options of the IVR (section <c>Ivr</c>).</summary>
public sealed class IvrOptions
{
    /// <summary>
    /// The flows folder (<c>hotline.yaml</c>, <c>prompts/</c>, <c>audio/</c>). Default: the copy the
    /// build puts beside the app; a relative path is resolved against the content root.
    /// </summary>
    public string FlowsPath { get; set; } = Path.Combine(AppContext.BaseDirectory, "ivr-flows");

    /// <summary>How long the investigators of one rota tier ring before the next tier is tried.</summary>
    public int RingSecondsPerTier { get; set; } = 20;

    /// <summary>Reload the flow when a file in the folder changes (an invalid edit keeps the previous flow).</summary>
    public bool ReloadOnChange { get; set; } = true;

    public string ResolveFlowsPath(string contentRootPath) => Path.GetFullPath(FlowsPath, contentRootPath);
}
