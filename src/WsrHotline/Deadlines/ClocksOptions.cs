namespace WsrHotline.Deadlines;

/// <summary>The stages a complaint is timed on, as <c>deadlines.kind</c>.</summary>
public static class ClockKinds
{
    public const string Acknowledged = "acknowledged";
    public const string FirstContact = "first_contact";
    public const string InvestigationStarted = "investigation_started";
    public const string ResolutionProposed = "resolution_proposed";
    public const string Resolved = "resolved";
    public const string Verified = "verified";

    /// <summary>A callback owed after a voicemail or an abandoned call (kept by a trigger on callback_tasks).</summary>
    public const string Callback = "callback";
}

/// <summary>How long each stage may take for one severity, counted from the complaint's opening
/// (verification: from its resolution); and how long after a breach the buyers are told.</summary>
public sealed class SeverityClocks
{
    public TimeSpan Acknowledged { get; set; }
    public TimeSpan FirstContact { get; set; }
    public TimeSpan InvestigationStarted { get; set; }
    public TimeSpan ResolutionProposed { get; set; }
    public TimeSpan Resolved { get; set; }

    /// <summary>Counted from the resolution: when compliance must have been verified.</summary>
    public TimeSpan Verified { get; set; }

    /// <summary>After a breach of a buyer-escalated clock, how long before the Signatory Buyers are told.</summary>
    public TimeSpan BuyerGrace { get; set; }

    public IEnumerable<(string Kind, TimeSpan DueAfter, string Anchor)> Stages()
    {
        yield return (ClockKinds.Acknowledged, Acknowledged, "opened");
        yield return (ClockKinds.FirstContact, FirstContact, "opened");
        yield return (ClockKinds.InvestigationStarted, InvestigationStarted, "opened");
        yield return (ClockKinds.ResolutionProposed, ResolutionProposed, "opened");
        yield return (ClockKinds.Resolved, Resolved, "opened");
        yield return (ClockKinds.Verified, Verified, "resolved");
    }

    /// <summary>The problem with these values, or null.</summary>
    public string? Problem(string severity)
    {
        if (Stages().Any(stage => stage.DueAfter <= TimeSpan.Zero) || BuyerGrace < TimeSpan.Zero)
        {
            return $"Clocks:{severity}: every stage must be a positive duration (e.g. \"01:00:00\", \"14.00:00:00\") and BuyerGrace not negative.";
        }
        if (!(Acknowledged <= InvestigationStarted && InvestigationStarted <= ResolutionProposed && ResolutionProposed <= Resolved && FirstContact <= Resolved))
        {
            return $"Clocks:{severity}: the stages must come in order: Acknowledged <= InvestigationStarted <= ResolutionProposed <= Resolved, and FirstContact <= Resolved.";
        }
        return null;
    }
}

/// <summary>Section <c>Clocks</c>: the clock policy per severity and stage, and the escalation ladder's steps.</summary>
public sealed class ClocksOptions
{
    public SeverityClocks Standard { get; set; } = new()
    {
        Acknowledged = TimeSpan.FromHours(1),
        FirstContact = TimeSpan.FromHours(24),
        InvestigationStarted = TimeSpan.FromDays(3),
        ResolutionProposed = TimeSpan.FromDays(10),
        Resolved = TimeSpan.FromDays(14),
        Verified = TimeSpan.FromDays(30),
        BuyerGrace = TimeSpan.FromDays(2),
    };

    public SeverityClocks Retaliation { get; set; } = new()
    {
        Acknowledged = TimeSpan.FromMinutes(30),
        FirstContact = TimeSpan.FromHours(4),
        InvestigationStarted = TimeSpan.FromHours(24),
        ResolutionProposed = TimeSpan.FromDays(5),
        Resolved = TimeSpan.FromDays(7),
        Verified = TimeSpan.FromDays(30),
        BuyerGrace = TimeSpan.FromDays(1),
    };

    public SeverityClocks ZeroTolerance { get; set; } = new()
    {
        Acknowledged = TimeSpan.FromMinutes(15),
        FirstContact = TimeSpan.FromHours(2),
        InvestigationStarted = TimeSpan.FromHours(12),
        ResolutionProposed = TimeSpan.FromDays(3),
        Resolved = TimeSpan.FromDays(5),
        Verified = TimeSpan.FromDays(14),
        BuyerGrace = TimeSpan.FromHours(12),
    };

    /// <summary>The share of a clock's length after which the assigned investigator is warned.</summary>
    public double WarnAt { get; set; } = 0.75;

    /// <summary>
    /// The clocks whose breach reaches the Signatory Buyers (after the grace). The others are the
    /// hotline's own stages (acknowledging, calling back): their breach goes to the coordinators only.
    /// Unset: resolution_proposed and resolved. (An array without default, because configuration
    /// binding appends to a default list instead of replacing it.)
    /// </summary>
    public string[]? BuyerEscalatedKinds { get; set; }

    /// <summary>The clock kinds that reach the buyers, configured or by default.</summary>
    public IReadOnlyList<string> BuyerKinds => BuyerEscalatedKinds is { Length: > 0 } configured
        ? configured
        : [ClockKinds.ResolutionProposed, ClockKinds.Resolved];

    public IEnumerable<(string Severity, SeverityClocks Clocks)> Severities()
    {
        yield return ("standard", Standard);
        yield return ("retaliation", Retaliation);
        yield return ("zero_tolerance", ZeroTolerance);
    }
}
