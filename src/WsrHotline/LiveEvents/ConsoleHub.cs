using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Npgsql;
using WsrHotline.LiveConsole;
using WsrHotline.Staff;

namespace WsrHotline.LiveEvents;

/// <summary>One live event as a console receives it. Payloads hold ids and labels, never PII.</summary>
public sealed record ConsoleEvent(long Id, string Kind, long? ComplaintId, JsonElement Payload, DateTimeOffset At);

/// <summary>A colleague as the console lists them.</summary>
public sealed record ColleaguePresence(int StaffId, string DisplayName, string Role, string Status, string AnswerMode, bool Connected, string[] Languages,
    string Activity = "idle", long? ActivityCallId = null);

/// <summary>What the hub calls on a console: one method per kind of event (<see cref="ConsoleEventKinds"/>).</summary>
public interface IConsoleClient
{
    Task CallOffered(ConsoleEvent e);
    Task CallTaken(ConsoleEvent e);
    Task CallAnswered(ConsoleEvent e);
    Task CallMissed(ConsoleEvent e);
    Task MessageReceived(ConsoleEvent e);
    Task MessageStatus(ConsoleEvent e);
    Task ComplaintChanged(ConsoleEvent e);
    Task ClockWarning(ConsoleEvent e);
    Task PresenceChanged(ConsoleEvent e);
    Task DashboardChanged(ConsoleEvent e);
    /// <summary>Any kind this console build does not know yet (it can refetch what it shows).</summary>
    Task Other(ConsoleEvent e);
}

/// <summary>
/// <c>/hubs/console</c>: the investigators' console and the coordinators' dashboard. Signed-in staff
/// only. A connection joins <c>all</c>, its role, itself, its team, and its languages (coordinators
/// and admins: every language). Events arrive from <see cref="ConsoleEventRelay"/>; a console that
/// reconnects calls <see cref="CatchUp"/> with the last id it saw.
/// </summary>
[Authorize(Policy = StaffPolicies.Investigator)]
public sealed class ConsoleHub(NpgsqlDataSource dataSource, ConsoleInstance instance, ConsoleConnections connections, Voice.ConsoleOffers offers)
    : Hub<IConsoleClient>
{
    /// <summary>At most this many events are replayed to a console that was away.</summary>
    public const int CatchUpLimit = 500;

    public override async Task OnConnectedAsync()
    {
        var user = Context.User!;
        var staffId = user.StaffId();
        var groups = await GroupsOfAsync(staffId);
        connections.Set(Context.ConnectionId, user, groups);
        foreach (var group in groups)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, group);
        }
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES (@connectionId, @staffId, @instanceId)
            ON CONFLICT (connection_id) DO NOTHING;
            INSERT INTO staff_presence (staff_id) VALUES (@staffId) ON CONFLICT (staff_id) DO NOTHING;
            """, new { connectionId = Context.ConnectionId, staffId, instanceId = instance.Id }, transaction);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
            new { staffId, connected = true }, CancellationToken.None);
        await transaction.CommitAsync();
        await base.OnConnectedAsync();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        connections.Remove(Context.ConnectionId);
        var staffId = Context.User!.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var stillConnected = await connection.ExecuteScalarAsync<bool>("""
            WITH gone AS (DELETE FROM console_connections WHERE connection_id = @connectionId)
            SELECT EXISTS (SELECT 1 FROM console_connections WHERE staff_id = @staffId AND connection_id <> @connectionId)
            """, new { connectionId = Context.ConnectionId, staffId }, transaction);
        if (!stillConnected)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
                new { staffId, connected = false }, CancellationToken.None);
        }
        await transaction.CommitAsync();
        await base.OnDisconnectedAsync(exception);
    }

    /// <summary>
    /// The events of this console's groups after <paramref name="afterId"/>, oldest first, leaving out
    /// those of cases this staff member may not open (<see cref="CaseAccess"/>).
    /// </summary>
    public async Task<IReadOnlyList<ConsoleEvent>> CatchUp(long afterId)
    {
        var user = Context.User!;
        var groups = await GroupsOfAsync(user.StaffId());
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(long Id, string Kind, long? ComplaintId, string Payload, DateTime CreatedAt)>($"""
            SELECT e.id, e.kind, e.complaint_id, e.payload::text, e.created_at
            FROM console_events e LEFT JOIN complaints k ON k.id = {ConsoleEvents.CaseOf}
            WHERE e.id > @afterId AND e.audience = ANY(@groups) AND {CaseAccess.VisibleCondition}
            ORDER BY e.id LIMIT @limit
            """, new { afterId, groups, limit = CatchUpLimit, seesEverything = user.SeesEverything(), team = user.Team() });
        return [.. rows.Select(row => ConsoleEventRelay.ToEvent(row.Id, row.Kind, row.ComplaintId, row.Payload, row.CreatedAt))];
    }

    /// <summary>The id of the newest event, where a console that just loaded its data starts listening from.</summary>
    public async Task<long> LatestEventId()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT coalesce(max(id), 0) FROM console_events");
    }

    /// <summary>Available, busy or away; and whether a call reaches this investigator in the browser or on their phone.</summary>
    public async Task SetPresence(string status, string answerMode)
    {
        if (status is not ("available" or "busy" or "away") || answerMode is not ("browser" or "phone"))
        {
            throw new HubException("Status must be available, busy or away; answer mode browser or phone.");
        }
        var staffId = Context.User!.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO staff_presence (staff_id, status, answer_mode, updated_at) VALUES (@staffId, @status, @answerMode, now())
            ON CONFLICT (staff_id) DO UPDATE SET status = excluded.status, answer_mode = excluded.answer_mode, updated_at = now()
            """, new { staffId, status, answerMode }, transaction);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
            new { staffId, status, answerMode }, CancellationToken.None);
        await transaction.CommitAsync();
    }

    /// <summary>The languages this investigator takes calls and messages in (from the hotline's languages).</summary>
    public async Task SetLanguages(string[] languageCodes)
    {
        var staffId = Context.User!.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var known = (await connection.QueryAsync<string>("SELECT code FROM languages WHERE active AND code = ANY(@languageCodes)",
            new { languageCodes }, transaction)).ToArray();
        if (known.Length != languageCodes.Distinct(StringComparer.Ordinal).Count())
        {
            throw new HubException("Unknown language: choose among the hotline's languages.");
        }
        var before = (await connection.QueryAsync<string>("SELECT language_code FROM staff_languages WHERE staff_id = @staffId",
            new { staffId }, transaction)).ToArray();
        await connection.ExecuteAsync("""
            DELETE FROM staff_languages WHERE staff_id = @staffId AND NOT (language_code = ANY(@known));
            INSERT INTO staff_languages (staff_id, language_code) SELECT @staffId, unnest(@known) ON CONFLICT DO NOTHING;
            """, new { staffId, known }, transaction);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Presence, Audience.All, null,
            new { staffId, languages = known }, CancellationToken.None);
        await transaction.CommitAsync();
        connections.Set(Context.ConnectionId, Context.User!, await GroupsOfAsync(staffId));
        if (!Context.User!.SeesEverything())
        {
            foreach (var code in before.Except(known))
            {
                await Groups.RemoveFromGroupAsync(Context.ConnectionId, Audience.Language(code));
            }
            foreach (var code in known)
            {
                await Groups.AddToGroupAsync(Context.ConnectionId, Audience.Language(code));
            }
        }
    }

    /// <summary>Everyone on staff, with what they said about themselves and whether a console of theirs is open.</summary>
    public async Task<IReadOnlyList<ColleaguePresence>> Colleagues()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(int StaffId, string DisplayName, string Role, string Status, string AnswerMode, bool Connected, string Languages, string Activity, long? ActivityCallId)>("""
            SELECT s.id AS staff_id, s.display_name, s.role,
                   coalesce(p.status, 'away') AS status, coalesce(p.answer_mode, 'browser') AS answer_mode,
                   EXISTS (SELECT 1 FROM console_connections c WHERE c.staff_id = s.id AND c.last_seen_at > now() - @fresh) AS connected,
                   coalesce((SELECT string_agg(language_code, ',' ORDER BY language_code) FROM staff_languages l WHERE l.staff_id = s.id), '') AS languages,
                   CASE WHEN p.activity = 'wrap_up' AND p.wrap_up_until <= now() THEN 'idle' ELSE coalesce(p.activity, 'idle') END AS activity,
                   p.activity_call_id
            FROM staff s LEFT JOIN staff_presence p ON p.staff_id = s.id
            WHERE s.active
            ORDER BY s.display_name
            """, new { fresh = ConsoleInstance.ConnectionFreshness });
        return [.. rows.Select(r => new ColleaguePresence(r.StaffId, r.DisplayName, r.Role, r.Status, r.AnswerMode, r.Connected,
            r.Languages.Split(',', StringSplitOptions.RemoveEmptyEntries), r.Activity, r.ActivityCallId))];
    }

    /// <summary>Claims an offered call for this investigator: the first accept wins, everyone else sees it taken.</summary>
    public Task<Voice.CallAcceptResult> AcceptCall(long callId) =>
        offers.AcceptAsync(callId, Context.User!, Context.GetHttpContext()!.Request, Context.ConnectionAborted);

    /// <summary>Accepts a warm transfer a colleague offered this investigator: they are dialled into the call.</summary>
    public Task<Voice.CallAcceptResult> AcceptTransfer(long callId, Voice.CallControls controls) =>
        offers.AcceptTransferAsync(callId, Context.User!, controls, Context.GetHttpContext()!.Request, Context.ConnectionAborted);

    private async Task<string[]> GroupsOfAsync(int staffId)
    {
        var user = Context.User!;
        var groups = new List<string> { Audience.All, Audience.Role(user.Role()), Audience.StaffMember(staffId) };
        if (user.Team() is { } team)
        {
            groups.Add(Audience.Team(team));
        }
        await using var connection = await dataSource.OpenConnectionAsync();
        var languages = user.SeesEverything()
            ? await connection.QueryAsync<string>("SELECT code FROM languages")
            : await connection.QueryAsync<string>("SELECT language_code FROM staff_languages WHERE staff_id = @staffId", new { staffId });
        groups.AddRange(languages.Select(Audience.Language));
        if (user.Role() == "admin")
        {
            groups.Add(Audience.Coordinators);
        }
        return [.. groups];
    }
}
