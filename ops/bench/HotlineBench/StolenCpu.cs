using System.Globalization;

namespace HotlineBench;

/// <summary>
/// The share of this machine's CPU time that the hypervisor gave to other guests while ours waited
/// ("steal" in <c>/proc/stat</c>), over a measured phase. On the shared virtual machines these
/// benchmarks run on it comes and goes: in a disturbed phase the bare endpoints slowed down threefold
/// and the paced p99 of both the IVR and the bare endpoint went from 2-5 ms to 50-300 ms. A phase with
/// more than <see cref="QuietLimit"/> stolen measures the neighbours, not the code, and is measured again.
/// </summary>
public sealed class StolenCpu
{
    /// <summary>Above this share a phase is disturbed from outside. (An idle, quiet machine shows 0-3 %.)</summary>
    public const double QuietLimit = 0.05;

    private readonly (long Stolen, long Total)? start = Read();

    /// <summary>The stolen share since this meter started; NaN where <c>/proc/stat</c> has no steal column.</summary>
    public double Share()
    {
        if (start is not { } from || Read() is not { } to || to.Total <= from.Total)
        {
            return double.NaN;
        }
        return (double)(to.Stolen - from.Stolen) / (to.Total - from.Total);
    }

    /// <summary>True when the share is known and within <see cref="QuietLimit"/>.</summary>
    public static bool IsQuiet(double share) => share <= QuietLimit;

    public static string Describe(double share) =>
        double.IsNaN(share) ? "steal unknown" : string.Create(CultureInfo.InvariantCulture, $"{share:P1} of the CPU stolen");

    // The first line of /proc/stat: "cpu user nice system idle iowait irq softirq steal guest guest_nice",
    // in ticks summed over all cores; guest time is already inside user and nice.
    private static (long Stolen, long Total)? Read()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 9 || fields[0] != "cpu")
            {
                return null;
            }
            var ticks = fields.Skip(1).Take(8).Select(field => long.Parse(field, CultureInfo.InvariantCulture)).ToArray();
            return (ticks[7], ticks.Sum());
        }
        catch (IOException)
        {
            return null;
        }
    }
}
