using System.Globalization;
using System.Text.Json.Serialization;

namespace WsrHotline.Escalation;

/// <summary>A provision of the Code a complaint is classified under, as a buyer sees it.</summary>
public sealed record BuyerProvision(
    [property: JsonPropertyName("number")] string Number,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("zero_tolerance")] bool ZeroTolerance);

/// <summary>
/// Everything a Signatory Buyer is ever told about a complaint. Built from an allow-list of columns
/// (the shareable summary, the provisions, the supplier's name, the days open, the ask): nothing about
/// the worker (identity, number, words, private notes) is read to build it, so nothing can leak into it.
/// The answer link and the delivery id are added when it is sent.
/// </summary>
public sealed record BuyerPayload(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("supplier")] string Supplier,
    [property: JsonPropertyName("provisions")] IReadOnlyList<BuyerProvision> Provisions,
    [property: JsonPropertyName("summary")] string? Summary,
    [property: JsonPropertyName("days_open")] int DaysOpen,
    [property: JsonPropertyName("clock")] string? Clock,
    [property: JsonPropertyName("ask")] string Ask)
{
    public const string ClockBreach = "clock_breach";
    public const string ZeroToleranceType = "zero_tolerance";

    /// <summary>The complaint as buyers know it: not the case number (workers use it with their PIN).</summary>
    public static string ReferenceFor(long complaintId) => "WSR-" + complaintId.ToString(CultureInfo.InvariantCulture);

    public static string AskFor(string type, string? clock) => type == ZeroToleranceType
        ? "A complaint at this supplier concerns a zero-tolerance violation of the Code. Under your WSR Agreement, " +
          "please require the supplier to cooperate with the monitoring organization's investigation at once, to stop " +
          "the conduct and to protect workers from retaliation, and tell us what you did through the answer link."
        : $"The agreed time for this complaint's {(clock ?? "resolution").Replace('_', ' ')} has passed. Under your WSR " +
          "Agreement, please require the supplier to cooperate with the monitoring organization and to carry out the " +
          "remedy without further delay, and tell us what you did through the answer link.";
}
