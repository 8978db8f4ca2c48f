using System.Globalization;

namespace HotlineBench;

/// <summary>
/// The CPU time (user + system) another process on this machine used since this meter started, from
/// <c>/proc/PID/stat</c>. The scripts give the app's and the bare endpoint's process ids, so that a
/// phase's CPU per request is read over that phase alone: the warm-ups, where .NET's tiered JIT takes
/// most of a core, are not in it.
/// </summary>
public sealed class ProcessCpu
{
    private readonly int? pid;
    private readonly double? start;

    public ProcessCpu(int? pid)
    {
        this.pid = pid;
        start = pid is { } id ? Read(id) : null;
    }

    /// <summary>Milliseconds of CPU per request since the meter started; NaN without a process id.</summary>
    public double PerRequestMs(long requests) =>
        pid is { } id && start is { } from && Read(id) is { } to && requests > 0 ? (to - from) / requests : double.NaN;

    /// <summary>The process's user and system time in ms (fields 14 and 15, in clock ticks of 1/100 s on Linux).</summary>
    private static double? Read(int id)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{id}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10.0;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
