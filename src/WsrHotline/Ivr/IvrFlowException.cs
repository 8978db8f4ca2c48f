namespace WsrHotline.Ivr;

/// <summary>
/// An ivr-flows folder that cannot be used. The message lists every problem, one per line, each
/// naming the file (with line:column where known), the step, prompt or language, and what is wrong.
/// </summary>
public sealed class IvrFlowException : Exception
{
    public IvrFlowException(string directory, IReadOnlyList<string> problems)
        : base(Describe(directory, problems))
    {
        Directory = directory;
        Problems = problems;
    }

    /// <summary>The flows folder that was read.</summary>
    public string Directory { get; }

    public IReadOnlyList<string> Problems { get; }

    private static string Describe(string directory, IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var count = problems.Count == 1 ? "1 problem" : $"{problems.Count} problems";
        return $"The IVR flow in {directory} has {count} (see ivr-flows/README.md):"
            + string.Concat(problems.Select(problem => $"{Environment.NewLine}- {problem}"));
    }
}
