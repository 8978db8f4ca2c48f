namespace WsrHotline.Tests.Ivr;

/// <summary>A copy of the repository's ivr-flows folder in a temp directory, to break or edit; deleted on dispose.</summary>
public sealed class FlowsCopy : IDisposable
{
    private readonly string root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wsr-ivr-" + Guid.NewGuid().ToString("N")[..12]);

    public FlowsCopy()
    {
        // Named ivr-flows like the original, so messages read as they would in production.
        Path = System.IO.Path.Combine(root, "ivr-flows");
        Copy(ShippedPath, Path);
    }

    /// <summary>
    /// The repository's own ivr-flows folder. Found here rather than through PostgresServer, whose
    /// initialisation starts a database: these tests need none.
    /// </summary>
    public static string ShippedPath { get; } = FindShippedFlows();

    public string Path { get; }

    public string Read(string relativePath) => File.ReadAllText(Full(relativePath));

    /// <summary>Replaces text that must be there (so a test cannot pass by editing nothing).</summary>
    public void Replace(string relativePath, string oldText, string newText)
    {
        var content = Read(relativePath);
        Assert.Contains(oldText, content, StringComparison.Ordinal);
        File.WriteAllText(Full(relativePath), content.Replace(oldText, newText, StringComparison.Ordinal));
    }

    public void Delete(string relativePath) => File.Delete(Full(relativePath));

    /// <summary>1-based line and column of the first occurrence of <paramref name="text"/>, as YamlDotNet counts them.</summary>
    public (int Line, int Column) Position(string relativePath, string text)
    {
        var lines = File.ReadAllLines(Full(relativePath));
        for (var i = 0; i < lines.Length; i++)
        {
            var column = lines[i].IndexOf(text, StringComparison.Ordinal);
            if (column >= 0)
            {
                return (i + 1, column + 1);
            }
        }
        throw new InvalidOperationException($"{text} not found in {relativePath}");
    }

    public string Full(string relativePath) => System.IO.Path.Combine(Path, relativePath);

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static string FindShippedFlows()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "WsrHotline.sln")))
            {
                return System.IO.Path.Combine(directory.FullName, "ivr-flows");
            }
        }
        throw new InvalidOperationException("WsrHotline.sln not found above " + AppContext.BaseDirectory);
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, System.IO.Path.Combine(to, System.IO.Path.GetFileName(file)));
        }
        foreach (var directory in Directory.GetDirectories(from))
        {
            Copy(directory, System.IO.Path.Combine(to, System.IO.Path.GetFileName(directory)));
        }
    }
}
