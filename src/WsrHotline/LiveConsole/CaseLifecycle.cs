namespace WsrHotline.LiveConsole;

/// <summary>What a move in the lifecycle needs besides the click: a text, kept as a private note of its kind.</summary>
public enum TransitionRequirement
{
    Nothing,
    /// <summary>Resolving: what was done (remediation, education, payment).</summary>
    Outcome,
    /// <summary>Rejecting: the grounds.</summary>
    Grounds,
    /// <summary>Referring: to whom (for example a national referral mechanism).</summary>
    ReferredTo,
}

/// <summary>One allowed move: from a status to another, what it needs, and whether only coordinators may make it.</summary>
public sealed record Transition(string From, string To, TransitionRequirement Requires, bool CoordinatorsOnly = false);

/// <summary>
/// The complaint lifecycle of DESIGN.md, in one place: received → acknowledged → investigating →
/// resolution proposed → resolved → verified, the side exits (not substantiated, rejected with
/// grounds, referred to someone) from any open status, and reopening a resolved case (coordinators).
/// Every move not listed here is refused.
/// </summary>
public static class CaseLifecycle
{
    private static readonly string[] OpenStatuses = ["received", "acknowledged", "investigating", "resolution_proposed"];

    /// <summary>Statuses that close the case (<c>complaints.closed_at</c> is set on reaching them).</summary>
    public static readonly IReadOnlySet<string> Closed = new HashSet<string>(StringComparer.Ordinal)
    {
        "resolved", "verified", "not_substantiated", "rejected", "referred",
    };

    public static readonly IReadOnlyList<Transition> Transitions =
    [
        new("received", "acknowledged", TransitionRequirement.Nothing),
        new("acknowledged", "investigating", TransitionRequirement.Nothing),
        new("investigating", "resolution_proposed", TransitionRequirement.Nothing),
        // The worker or the supplier turned the proposal down: back to investigating.
        new("resolution_proposed", "investigating", TransitionRequirement.Nothing),
        new("resolution_proposed", "resolved", TransitionRequirement.Outcome),
        new("resolved", "verified", TransitionRequirement.Nothing),
        new("resolved", "investigating", TransitionRequirement.Nothing, CoordinatorsOnly: true),
        .. OpenStatuses.SelectMany(from => new Transition[]
        {
            new(from, "not_substantiated", TransitionRequirement.Nothing),
            new(from, "rejected", TransitionRequirement.Grounds),
            new(from, "referred", TransitionRequirement.ReferredTo),
        }),
    ];

    /// <summary>The move from <paramref name="from"/> to <paramref name="to"/>, or null when the lifecycle has none.</summary>
    public static Transition? Find(string from, string to) =>
        Transitions.FirstOrDefault(t => t.From == from && t.To == to);

    /// <summary>The moves open from a status to this user (coordinators and admins see the reopening too).</summary>
    public static IEnumerable<Transition> From(string status, bool coordinator) =>
        Transitions.Where(t => t.From == status && (coordinator || !t.CoordinatorsOnly));

    /// <summary>Whether a move reopens a closed case.</summary>
    public static bool Reopens(Transition transition) => Closed.Contains(transition.From) && !Closed.Contains(transition.To);

    /// <summary>The note kind that keeps a transition's required text.</summary>
    public static string? NoteKind(TransitionRequirement requirement) => requirement switch
    {
        TransitionRequirement.Outcome => "resolution_outcome",
        TransitionRequirement.Grounds => "rejection_grounds",
        TransitionRequirement.ReferredTo => "referral",
        _ => null,
    };

    /// <summary>The sentence a refusal gives when the required text is missing.</summary>
    public static string MissingText(Transition transition) => transition.Requires switch
    {
        TransitionRequirement.Outcome => "A resolution needs its outcome: say what was done for the worker.",
        TransitionRequirement.Grounds => "A rejection needs its grounds: say why the complaint is rejected.",
        TransitionRequirement.ReferredTo => "A referral needs to say to whom the case is referred.",
        _ => "",
    };
}
