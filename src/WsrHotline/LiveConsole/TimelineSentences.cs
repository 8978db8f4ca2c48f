using System.Globalization;
using System.Text.Json;

namespace WsrHotline.LiveConsole;

/// <summary>
/// The case timeline as sentences for people ("Worker left a 25 s voicemail", "Rahima Akter replied by
/// WhatsApp", "Acknowledgement clock met, 3 min before due") instead of event codes and JSON. One line
/// of <see cref="Sentences"/> per timeline kind: a kind added elsewhere gets its sentence there; a kind
/// not in the table still reads as a sentence (<see cref="Generic"/>). Times inside a sentence are
/// spans ("3 min before due"), never clock times: the console shows when it happened in the browser's
/// own time zone. Staff are named by id through <see cref="TimelineContext.Staff"/>.
/// </summary>
public static class TimelineSentences
{
    private static readonly Dictionary<string, Func<TimelineEntry, string>> Sentences = new(StringComparer.Ordinal)
    {
        ["complaint.opened"] = e => $"Case opened from {Contact(e.Text("channel"))}, in {e.Language(e.Text("language"))}",
        ["clocks.opened"] = e => $"{(e.Flag("reopened") ? "Clocks restarted" : "Clocks started")}: {Clocks(e, "clocks")}",
        ["clocks.recomputed"] = e => $"Clocks recalculated for the new severity: {Clocks(e, "clocks")}",
        ["clock.met"] = e => $"{ClockName(e.Text("kind"))} clock met{By(e)}, {DueMargin(e)}",
        ["clock.closed"] = e => $"{ClockName(e.Text("kind"))} clock closed, no longer running",

        ["message.received"] = e => $"Worker sent {Contact(e.Text("channel"))}{Attachments(e.Number("num_media"))}",
        ["message.staff_reply"] = e => $"{e.Actor} replied by {Channel(e.Text("channel"))}",
        ["message.template"] = e => $"The hotline sent its {Label(e.Text("purpose"))} message as an approved WhatsApp template",
        ["message.delivery"] = e => $"A message to the worker was {Label(e.Text("status"))}{ErrorCode(e)}",
        ["message.failed"] = e => $"A message to the worker could not be sent after {Count(e.Number("attempts"), "attempt")}{ErrorCode(e)}",
        ["message.unconfigured_number"] = e => $"Worker texted a hotline number the settings do not list (by {Channel(e.Text("channel"))})",
        ["messaging.opted_out"] = _ => "Worker opted out of texts (STOP): no more texts are sent",
        ["messaging.opted_in"] = _ => "Worker opted back in to texts",
        ["media.stored"] = e => $"The worker's attachment was kept ({e.Text("content_type") ?? "file"})",
        ["media.refused"] = e => $"The worker's attachment was refused ({(e.Text("reason") == "type" ? "a type the hotline does not accept" : Label(e.Text("reason")))})",
        ["media.failed"] = _ => "The worker's attachment could not be fetched",

        ["status.checked"] = e => $"Worker checked the case's status by {Channel(e.Text("channel"))}",
        ["status.locked"] = e => $"Status checks locked for {e.Number("locked_minutes") ?? 15} min after {Count(e.Number("wrong_pins"), "wrong PIN")}",
        ["case_number.told"] = e => e.Flag("pin_issued") ? "Worker was told the case number and PIN on the call" : "Worker was told the case number on the call",

        ["call.received"] = e => $"Worker called the hotline, in {e.Language(e.Text("language"))}",
        ["call.joined_case"] = _ => "Worker called again about this case",
        ["call.routing"] = e => $"Worker asked for an investigator; the call waits in the {e.Language(e.Text("language"))} queue",
        ["call.offered_console"] = e => $"Call offered in the console to {Names(e, "staff_ids")}",
        ["call.console_missed"] = _ => "Nobody took the call in the console in time; on-call phones rang next",
        ["call.accepted_console"] = e => $"{e.Actor} accepted the call in the console ({(e.Text("answer_mode") == "phone" ? "on their phone" : "in the browser")})",
        ["call.console_leg_failed"] = e => $"The call could not reach {e.Actor}'s console",
        ["call.rung"] = e => $"Rang {Names(e, "staff_ids")} (on-call tier {e.Number("tier")})",
        ["call.declined"] = e => $"{e.Actor} declined the call",
        ["call.leg_ended"] = e => $"The call to {e.Actor} ended: {Label(e.Text("outcome"))}",
        ["call.answer_refused"] = _ => "An investigator's answer was refused: the worker had already hung up",
        ["call.participant_joined"] = e => $"{Participant(e)} joined the call{(e.Flag("coaching") ? " to coach the investigator" : e.Flag("muted") ? " to listen" : "")}",
        ["call.participant_left"] = e => $"{Participant(e)} left the call after {Seconds(e.Number("seconds"))}",
        ["call.conference_ended"] = _ => "The call's conference ended",
        ["call.held"] = e => $"{e.Actor} put the worker on hold",
        ["call.resumed"] = e => $"{e.Actor} took the worker off hold",
        ["call.muted"] = e => $"{e.Actor} muted their line",
        ["call.unmuted"] = e => $"{e.Actor} unmuted their line",
        ["call.hung_up"] = e => $"{e.Actor} hung up the call",
        ["call.interpreter_called"] = e => $"{e.Actor} dialled the {e.Text("line") ?? "interpreter line"} into the call",
        ["call.monitor"] = e => $"{e.Actor} joined the call to {(e.Text("mode") switch { "coach" => "coach the investigator", "barge" => "speak with everyone", _ => "listen" })}",
        ["call.transfer_offered"] = e => e.Text("to_language") is { } queue
            ? $"{e.Actor} offered the call to the {e.Language(queue)} queue: {Names(e, "staff_ids")}"
            : $"{e.Actor} offered the call to {(e.Number("to_staff_id") is { } to ? e.StaffName((int)to) : "a colleague")}",
        ["call.transfer_accepted"] = e => e.Text("language") is { } queue
            ? $"{e.Actor} accepted the call transferred to the {e.Language(queue)} queue"
            : $"{e.Actor} accepted the transferred call",
        ["call.transferred"] = e => $"The call passed from {(e.Number("from_staff_id") is { } from ? e.StaffName((int)from) : "an investigator")} to {(e.Number("to_staff_id") is { } to ? e.StaffName((int)to) : "a colleague")}"
            + (e.Text("to_language") is { } language ? $", and is in {e.Language(language)} from now on" : ""),
        ["call.wrapped_up"] = e => $"{e.Actor} wrapped up the call: {Label(e.Text("disposition"))}",
        ["call.wrap_up_timed_out"] = e => $"The wrap-up ran out after {e.Number("minutes") ?? 2} min; calls are offered again",
        ["call.no_answer"] = e => $"Nobody answered after {Seconds(e.Number("waited_seconds"))} ({Count(e.Number("tiers_rung"), "tier")} rung)",
        ["call.answered"] = e => $"{e.Actor} answered the call",
        ["call.abandoned"] = e => $"Worker hung up before reaching anyone ({Label(e.Text("stage"))})",
        ["call.ended"] = e => $"Call ended after {Seconds(e.Number("duration_seconds"))}",

        ["voicemail.left"] = e => (e.Number("duration_seconds") is { } length ? $"Worker left a {Seconds(length)} voicemail" : "Worker left a voicemail")
            + (e.Flag("during_outage") ? " during a database outage" : ""),
        ["voicemail.recording_stored"] = e => $"The voicemail recording ({Seconds(e.Number("duration_seconds"))}) was kept",
        ["voicemail.copied"] = _ => "The voicemail recording was copied into the hotline's own storage, encrypted",
        ["voicemail.twilio_copy_deleted"] = _ => "Twilio's copy of the voicemail recording was deleted",
        ["voicemail.twilio_copy_not_deleted"] = e => $"Twilio's copy of the voicemail recording could not be deleted after {Count(e.Number("attempts"), "attempt")}: an admin deletes it in Twilio's console",
        ["voicemail.copy_failed"] = e => $"The voicemail recording could not be copied out of Twilio after {Count(e.Number("attempts"), "attempt")}",
        ["voicemail.played"] = e => $"{e.Actor} played the voicemail",
        ["callback.started"] = e => $"{e.Actor} called the worker back ({(e.Text("answer_mode") == "phone" ? "on their phone" : "in the browser")})",
        ["callback.reached"] = e => $"{e.Actor} reached the worker on the callback",
        ["callback.unanswered"] = e => $"The worker did not answer the callback ({Label(e.Text("status") ?? e.Text("outcome"))})",
        ["callback.attempt_ended"] = e => $"The callback attempt ended before the worker was reached ({Label(e.Text("outcome"))})",
        ["callback.call_ended"] = e => $"The callback call ended after {Seconds(e.Number("duration_seconds"))}",
        ["callback.closed"] = e => $"{e.Actor} closed the callback by hand: {Label(e.Text("reason"))}",
        ["callback.owed"] = e => $"A callback is owed within {e.Number("due_in_minutes") ?? 30} min ({Label(e.Text("reason"))})",

        ["complaint.status_changed"] = e => $"{e.Actor} moved the case from {Label(e.Text("from"))} to {Label(e.Text("to"))}",
        ["complaint.reopened"] = e => e.Text("reason") == "retaliation_checkin"
            ? "Case reopened: the worker answered a retaliation check-in with a problem"
            : $"{e.Actor} reopened the case ({Label(e.Text("from"))} to {Label(e.Text("to"))})",
        ["complaint.severity_changed"] = e => $"{e.Actor} changed the severity from {Label(e.Text("from"))} to {Label(e.Text("to"))}",
        ["complaint.confidentiality_changed"] = e => $"{e.Actor} changed the confidentiality from {Label(e.Text("from"))} to {Label(e.Text("to"))}",
        ["complaint.classified"] = e => $"{e.Actor} classified the case under the Code{Provisions(e)}",
        ["complaint.supplier_changed"] = e => e.Flag("outside_program_by_name")
            ? $"{e.Actor} named an employer outside the Program"
            : $"{e.Actor} set the employer",
        ["complaint.assigned"] = e => e.Number("to_staff_id") is { } to
            ? $"{e.Actor} assigned the case to {e.StaffName((int)to)}"
            : $"{e.Actor} unassigned the case",
        ["complaint.restricted"] = e => $"{e.Actor} restricted the case to team {e.Text("team")}",
        ["complaint.unrestricted"] = e => $"{e.Actor} lifted the case's restriction",
        ["summary.changed"] = e => $"{e.Actor} updated the shareable summary (version {e.Number("version")})",
        ["note.added"] = e => $"{e.Actor} added a private note",
        ["disclosure.decision_recorded"] = e => $"{e.Actor} recorded the worker's decision: {Label(e.Text("decision"))} ({Label(e.Text("how"))})",
        ["caller.number_revealed"] = e => $"{e.Actor} revealed the caller's number",

        ["escalation.recorded"] = Escalation,
        ["escalation.attempt"] = e => $"Escalation by {Channel(e.Text("channel"))}: {Label(e.Text("outcome"))} (attempt {e.Number("attempt")})",
        ["escalation.answered"] = e => $"A buyer answered the escalation: {Label(e.Text("answer"))}",
        ["retaliation.checkin_queued"] = e => $"Retaliation check-in sent to the worker, {e.Number("after_days")} days on{(e.Flag("suppressed") ? " (not sent: the worker opted out)" : "")}",
        ["retaliation.checkin_skipped"] = e => $"Retaliation check-in of day {e.Number("after_days")} skipped ({Label(e.Text("reason"))})",
        ["retaliation.checkin_answered"] = e => e.Text("answer") == "all_well"
            ? "Worker answered the retaliation check-in: all is well"
            : "Worker answered the retaliation check-in: there is a problem",
    };

    /// <summary>Every kind with a sentence of its own.</summary>
    public static IReadOnlyCollection<string> Kinds => Sentences.Keys;

    public static string For(TimelineEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        try
        {
            return Sentences.TryGetValue(entry.Kind, out var sentence) ? sentence(entry) : Generic(entry);
        }
        catch (Exception exception) when (exception is InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // Details of an unexpected shape: still a sentence, never a broken page.
            return Generic(entry);
        }
    }

    /// <summary>A kind without a sentence: "Carlos Ruiz: call transferred".</summary>
    public static string Generic(TimelineEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var what = entry.Kind.Replace('.', ' ').Replace('_', ' ');
        return $"{entry.Actor}: {what}";
    }

    private static string Escalation(TimelineEntry e)
    {
        var clock = e.Text("kind") is { } kind ? ClockName(kind).ToLowerInvariant() : null;
        return e.Text("level") switch
        {
            "investigator_warning" => $"Investigators warned: the {clock} clock is due soon",
            "coordinator_alert" when e.Text("reason") == "zero_tolerance" => "Coordinators alerted: a zero-tolerance case",
            "coordinator_alert" => $"Coordinators alerted: the {clock} clock breached",
            "buyer" => $"Escalated to a Signatory Buyer ({Label(e.Text("type"))})",
            "no_buyer" => $"No buyer to escalate to ({Label(e.Text("why"))}): the coordinators were told",
            var level => $"Escalation recorded ({Label(level)})",
        };
    }

    private static readonly Dictionary<string, string> ClockNames = new(StringComparer.Ordinal)
    {
        ["acknowledged"] = "Acknowledgement",
        ["first_contact"] = "First contact",
        ["investigation_started"] = "Investigation start",
        ["resolution_proposed"] = "Resolution proposal",
        ["resolved"] = "Resolution",
        ["verified"] = "Verification",
        ["verification"] = "Verification",
        ["callback"] = "Callback",
    };

    public static string ClockName(string? kind) =>
        kind is null ? "A" : ClockNames.TryGetValue(kind, out var name) ? name : Capitalised(Label(kind));

    private static string Clocks(TimelineEntry e, string property)
    {
        if (!e.Details.TryGetProperty(property, out var clocks) || clocks.ValueKind != JsonValueKind.Array)
        {
            return "none";
        }
        var names = clocks.EnumerateArray()
            .Select(c => c.ValueKind == JsonValueKind.Object ? Property(c, "kind") ?? Property(c, "Kind") : null)
            .Where(k => k is not null)
            .Select(k => ClockName(k).ToLowerInvariant())
            .ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private static string? Property(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>"3 min before due" or "2 h after due": when the clock was met against its due time.</summary>
    private static string DueMargin(TimelineEntry e)
    {
        if (e.Text("due_at") is not { } text || !DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var due))
        {
            return e.Flag("late") ? "late" : "in time";
        }
        var margin = due - DateTime.SpecifyKind(e.OccurredAt, DateTimeKind.Utc);
        return margin >= TimeSpan.Zero ? $"{Span(margin)} before due" : $"{Span(-margin)} after due";
    }

    /// <summary>"45 s", "3 min", "2 h 5 min", "4 days".</summary>
    public static string Span(TimeSpan span)
    {
        if (span < TimeSpan.FromMinutes(1))
        {
            return $"{Math.Max(0, (int)Math.Round(span.TotalSeconds))} s";
        }
        var minutes = (int)Math.Round(span.TotalMinutes);
        if (minutes < 60)
        {
            return $"{minutes} min";
        }
        var hours = minutes / 60;
        if (hours < 48)
        {
            return minutes % 60 == 0 ? $"{hours} h" : $"{hours} h {minutes % 60} min";
        }
        return $"{(int)Math.Round(span.TotalDays)} days";
    }

    private static string Seconds(double? seconds) => seconds is { } s
        ? s < 60 ? $"{(int)s} s" : $"{(int)(s / 60)} min {(int)(s % 60)} s"
        : "a while";

    private static string By(TimelineEntry e) => e.ActorKind == "staff" ? $" by {e.Actor}" : "";

    private static string Attachments(double? count) => count is > 0 ? $" with {Count(count, "attachment")}" : "";

    private static string ErrorCode(TimelineEntry e) => e.Number("error_code") is { } code ? $" (error {code})" : "";

    private static string Provisions(TimelineEntry e)
    {
        var added = Numbers(e, "added");
        var removed = Numbers(e, "removed");
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("added " + string.Join(", ", added));
        }
        if (removed.Count > 0)
        {
            parts.Add("removed " + string.Join(", ", removed));
        }
        return parts.Count == 0 ? "" : ": " + string.Join("; ", parts);
    }

    private static List<string> Numbers(TimelineEntry e, string property) =>
        e.Details.TryGetProperty(property, out var list) && list.ValueKind == JsonValueKind.Array
            ? [.. list.EnumerateArray().Select(p => p.ToString())]
            : [];

    private static string Names(TimelineEntry e, string property)
    {
        if (!e.Details.TryGetProperty(property, out var ids) || ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() == 0)
        {
            return "nobody";
        }
        var names = ids.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.Number).Select(i => e.StaffName(i.GetInt32())).ToList();
        return names.Count switch
        {
            0 => "nobody",
            1 => names[0],
            _ => string.Join(", ", names[..^1]) + " and " + names[^1],
        };
    }

    private static string Count(double? count, string noun) => count switch
    {
        null => $"some {noun}s",
        1 => $"1 {noun}",
        var n => $"{n} {noun}s",
    };

    /// <summary>"SMS", "WhatsApp", "phone": how something went.</summary>
    private static string Channel(string? channel) => channel switch
    {
        "sms" => "SMS",
        "whatsapp" => "WhatsApp",
        "voice" => "phone",
        "email" => "e-mail",
        null => "an unknown channel",
        var other => Label(other),
    };

    /// <summary>"an SMS", "a WhatsApp message", "a call": what the worker sent.</summary>
    private static string Contact(string? channel) => channel switch
    {
        "sms" => "an SMS",
        "whatsapp" => "a WhatsApp message",
        "voice" => "a call",
        null => "a message",
        var other => "a " + Label(other) + " message",
    };

    private static string Participant(TimelineEntry e) => e.Number("staff_id") is { } staff
        ? e.StaffName((int)staff)
        : e.Text("role") switch { "worker" => "The worker", "interpreter" => "An interpreter", _ => "Someone" };

    private static string Label(string? value) => value is null ? "unknown" : value.Replace('_', ' ');

    private static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}

/// <summary>What a sentence may look up: staff names by id, language names by code.</summary>
public sealed record TimelineContext(IReadOnlyDictionary<int, string> Staff, IReadOnlyDictionary<string, string> Languages);

/// <summary>One timeline row as a sentence needs it.</summary>
public sealed record TimelineEntry(string Kind, string ActorKind, string? ActorName, DateTime OccurredAt, JsonElement Details, TimelineContext Context)
{
    /// <summary>Who did it, as a person reads it.</summary>
    public string Actor => ActorKind switch
    {
        "worker" => "Worker",
        "staff" => ActorName ?? "A staff member",
        "buyer" => "A buyer",
        _ => ActorName ?? "The hotline",
    };

    public string? Text(string property) =>
        Details.ValueKind == JsonValueKind.Object && Details.TryGetProperty(property, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Null or JsonValueKind.Undefined => null,
                _ => value.ToString(),
            }
            : null;

    public double? Number(string property) =>
        Details.ValueKind == JsonValueKind.Object && Details.TryGetProperty(property, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.Number => value.GetDouble(),
                JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => null,
            }
            : null;

    public bool Flag(string property) =>
        Details.ValueKind == JsonValueKind.Object && Details.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.True;

    public string StaffName(int staffId) => Context.Staff.TryGetValue(staffId, out var name) ? name : "a former staff member";

    public string Language(string? code) => code is null ? "an unknown language" : Context.Languages.TryGetValue(code, out var name) ? name : code;
}
