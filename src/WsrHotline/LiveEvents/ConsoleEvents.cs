using System.Text.Json;
using Dapper;
using Npgsql;

namespace WsrHotline.LiveEvents;

/// <summary>
/// The SignalR groups an event can be addressed to. Every signed-in connection is in <see cref="All"/>,
/// in its role's group, its own staff group, its team's group and one group per language it covers
/// (coordinators and admins: every language).
/// </summary>
public static class Audience
{
    public const string All = "all";
    public const string Coordinators = "role:coordinator";

    public static string Language(string languageCode) => "lang:" + languageCode;

    public static string Role(string role) => "role:" + role;

    public static string StaffMember(int staffId) => "staff:" + staffId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string Team(string team) => "team:" + team;
}

/// <summary>The kinds of live event; each is one method of <see cref="IConsoleClient"/>.</summary>
public static class ConsoleEventKinds
{
    public const string CallOffered = "call.offered";
    public const string CallTaken = "call.taken";
    public const string CallAnswered = "call.answered";
    public const string CallMissed = "call.missed";

    // Sent through IConsoleClient.Other (the console dispatches on the kind).
    /// <summary>The worker's call ended (ringing or talking): every console showing its offer clears the banner.</summary>
    public const string CallEnded = "call.ended";

    /// <summary>To the investigator whose part of a call is over: the wrap-up form.</summary>
    public const string CallWrapUp = "call.wrap_up";

    /// <summary>Who is in a call's conference changed (joined, left, held, muted, coached).</summary>
    public const string CallParticipants = "call.participants";
    public const string MessageReceived = "message.received";
    public const string MessageStatus = "message.status";
    public const string ComplaintChanged = "complaint.changed";
    public const string ClockWarning = "clock.warning";

    /// <summary>A clock of a case assigned to the receiver has breached (sent through <c>Other</c>).</summary>
    public const string ClockBreached = "clock.breached";
    public const string Presence = "presence";
    public const string Dashboard = "dashboard.changed";
}

/// <summary>
/// The outbox of live events. An event about a case names it in <c>complaint_id</c> (or at least as
/// <c>complaintId</c> / <c>complaint_id</c> in its payload): an event of a case restricted to a team
/// reaches only those who may open the case, live and on catch-up. Append in the same transaction as the change the event announces:
/// the table's trigger NOTIFYs at commit, and <see cref="ConsoleEventRelay"/> on every instance
/// forwards it. The payload must hold ids and labels only, never a worker's number, name or words.
/// </summary>
public static class ConsoleEvents
{
    /// <summary>
    /// SQL: the case an event of <c>e</c> (a <c>console_events</c> alias) is about, from its column or
    /// else its payload, so that an event written without the column is still held back.
    /// </summary>
    public const string CaseOf = """
        coalesce(e.complaint_id,
                 CASE WHEN jsonb_typeof(e.payload -> 'complaintId') = 'number' THEN (e.payload ->> 'complaintId')::bigint END,
                 CASE WHEN jsonb_typeof(e.payload -> 'complaint_id') = 'number' THEN (e.payload ->> 'complaint_id')::bigint END)
        """;

    public static Task AppendAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string kind, string audience,
        long? complaintId, object payload, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO console_events (kind, audience, complaint_id, payload)
            VALUES (@kind, @audience, @complaintId, @payload::jsonb)
            """,
            new { kind, audience, complaintId, payload = JsonSerializer.Serialize(payload) },
            transaction, cancellationToken: cancellationToken));
}
