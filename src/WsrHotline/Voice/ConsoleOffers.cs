using System.Security.Claims;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Twilio.Clients;
using Twilio.Exceptions;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Staff;
using WsrHotline.Twilio;
using CallResource = Twilio.Rest.Api.V2010.Account.CallResource;
using CreateCallOptions = Twilio.Rest.Api.V2010.Account.CreateCallOptions;
using PhoneNumber = Twilio.Types.PhoneNumber;

namespace WsrHotline.Voice;

/// <summary>Where a call stands with the consoles.</summary>
public enum ConsoleOfferState
{
    /// <summary>Not offered (nobody available) or the offer ran out: the phone tiers ring.</summary>
    PhoneTiers,

    /// <summary>Ringing in the consoles: the caller keeps hearing hold messages.</summary>
    Ringing,
}

/// <summary>What an investigator's "Accept" got.</summary>
public sealed record CallAcceptResult(bool Accepted, string Reason);

/// <summary>
/// The console first: a call in a language rings the consoles of the investigators of that language
/// who are available and connected, for <see cref="VoiceOptions.ConsoleOfferDuration"/>. "Accept"
/// claims it atomically (the same <c>calls.answered_by</c> the phone screening claims), then Twilio
/// calls the investigator's browser (<c>client:staff-N</c>, Twilio's Voice SDK) or their phone, and
/// that leg is bridged to the caller's queue. Nobody accepts in time, or the chosen leg fails: the
/// phone tiers take over.
/// </summary>
public sealed partial class ConsoleOffers(
    NpgsqlDataSource dataSource,
    ITwilioRestClient twilioRest,
    VoiceUrls urls,
    IOptions<Hosting.HotlineOptions> hotline,
    IOptions<VoiceOptions> options,
    TimeProvider time,
    ILogger<ConsoleOffers> logger)
{
    /// <summary>The Twilio client identity of a staff member's browser.</summary>
    public static string ClientIdentity(int staffId) => $"staff-{staffId}";

    private sealed record OfferRow(long Id, long? ComplaintId, string? CaseNumber, string? RestrictedTeam, int? AnsweredBy, DateTime? ConsoleOfferedAt, DateTime? ConsoleOfferUntil);

    /// <summary>Called by the queue's wait URL before any phone tier rings.</summary>
    public async Task<ConsoleOfferState> OfferAsync(long callId, string language, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var call = await connection.QuerySingleAsync<OfferRow>(new CommandDefinition("""
            SELECT c.id, c.complaint_id, k.case_number, k.restricted_team, c.answered_by, c.console_offered_at, c.console_offer_until
            FROM calls c LEFT JOIN complaints k ON k.id = c.complaint_id WHERE c.id = @callId
            """, new { callId }, cancellationToken: cancellationToken));

        if (call.ConsoleOfferedAt is null)
        {
            return await StartOfferAsync(connection, call, language, now, cancellationToken);
        }
        if (call.ConsoleOfferUntil is { } until && new DateTimeOffset(until, TimeSpan.Zero) > now)
        {
            return ConsoleOfferState.Ringing;
        }
        if (call.ConsoleOfferUntil is not null)
        {
            await ExpireAsync(connection, call, language, now, cancellationToken);
        }
        return ConsoleOfferState.PhoneTiers;
    }

    private async Task<ConsoleOfferState> StartOfferAsync(NpgsqlConnection connection, OfferRow call, string language, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Those who may take it now; for a call about a restricted case, only those who may open the case.
        var available = await CallTakers.MayTakeNowAsync(connection, transaction, language, call.RestrictedTeam, now, cancellationToken);
        var until = now + options.Value.ConsoleOfferDuration;
        // Offered once per call, whatever the number of wait requests: no one available means "not offered".
        var started = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET console_offered_at = @now, console_offer_until = @until
            WHERE id = @id AND console_offered_at IS NULL
            """, new { call.Id, now, until = available.Length > 0 ? until : now }, transaction, cancellationToken: cancellationToken));
        if (started > 0)
        {
            // The call waits from now: the dashboard's queue view counts it (with nobody available, no other event says so).
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Dashboard, Audience.Coordinators, null,
                new { reason = "queue", callId = call.Id, language }, cancellationToken);
        }
        if (started == 0 || available.Length == 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return started == 0 ? ConsoleOfferState.Ringing : ConsoleOfferState.PhoneTiers;
        }
        // Rung in the consoles of the available investigators only (busy or away ones speak the language too).
        foreach (var staffId in available)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallOffered, Audience.StaffMember(staffId), call.ComplaintId,
                new { callId = call.Id, caseNumber = call.CaseNumber, language, until }, cancellationToken);
        }
        if (call.ComplaintId is { } complaintId)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "call.offered_console",
                new { language, staff_ids = available, seconds = options.Value.ConsoleOfferDuration.TotalSeconds }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return ConsoleOfferState.Ringing;
    }

    /// <summary>The offer ran out unclaimed: announced once (whichever wait request gets here first).</summary>
    private static async Task ExpireAsync(NpgsqlConnection connection, OfferRow call, string language, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var expired = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET console_offer_until = NULL
            WHERE id = @id AND console_offer_until IS NOT NULL AND console_offer_until <= @now AND answered_by IS NULL
            """, new { call.Id, now }, transaction, cancellationToken: cancellationToken));
        if (expired > 0 && call.ConsoleOfferUntil > call.ConsoleOfferedAt)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallMissed, Audience.Language(language), call.ComplaintId,
                new { callId = call.Id, caseNumber = call.CaseNumber, language }, cancellationToken);
            if (call.ComplaintId is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "call.console_missed",
                    new { language }, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
    }

    private sealed record ClaimRow(long? ComplaintId, string LanguageCode, string? CaseNumber, string AnswerMode, string? Phone, string DisplayName);

    /// <summary>
    /// "Accept" pressed in <paramref name="user"/>'s console (the hub's AcceptCall): refused for a
    /// call about a case they may not open (<see cref="LiveConsole.CaseAccess"/>), else claimed.
    /// </summary>
    public async Task<CallAcceptResult> AcceptAsync(long callId, ClaimsPrincipal user, HttpRequest request, CancellationToken cancellationToken) =>
        await RestrictedElsewhereAsync(callId, user, cancellationToken)
            ? RestrictedCase
            : await AcceptAsync(callId, user.StaffId(), user.SeesEverything(), request, cancellationToken);

    /// <summary>
    /// A warm transfer accepted in <paramref name="user"/>'s console (the hub's AcceptTransfer): the
    /// case's team is checked again, as for a new call (it may have been restricted since the offer).
    /// </summary>
    public async Task<CallAcceptResult> AcceptTransferAsync(long callId, ClaimsPrincipal user, CallControls controls, HttpRequest request,
        CancellationToken cancellationToken) =>
        await RestrictedElsewhereAsync(callId, user, cancellationToken)
            ? RestrictedCase
            : await AcceptTransferAsync(callId, user.StaffId(), controls, request, cancellationToken);

    private static readonly CallAcceptResult RestrictedCase = new(false, "This call is about a case restricted to another team.");

    /// <summary>Whether the call is about a case this staff member may not open.</summary>
    private async Task<bool> RestrictedElsewhereAsync(long callId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var complaintId = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT complaint_id FROM calls WHERE id = @callId", new { callId }, cancellationToken: cancellationToken));
        return complaintId is { } id && await LiveConsole.CaseAccess.CheckAsync(connection, user, id, cancellationToken) is { Allowed: false };
    }

    /// <summary>
    /// Claims an offered call for <paramref name="staffId"/>, whose access to the case is checked
    /// already: the first claim wins. The investigator must cover the call's language (or be a
    /// coordinator); the offer must still be ringing.
    /// </summary>
    public async Task<CallAcceptResult> AcceptAsync(long callId, int staffId, bool seesEverything, HttpRequest request, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        ClaimRow? claimed;
        long legId;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            claimed = await connection.QuerySingleOrDefaultAsync<ClaimRow>(new CommandDefinition("""
                WITH claimed AS (
                    UPDATE calls c SET answered_by = @staffId, answered_at = @now
                    WHERE c.id = @callId AND c.answered_by IS NULL AND c.stage = 'connect' AND c.console_offer_until > @now AND c.status_rank < 5
                      AND (@seesEverything OR EXISTS (SELECT 1 FROM staff_languages l WHERE l.staff_id = @staffId AND l.language_code = c.language_code))
                    RETURNING c.complaint_id, c.language_code
                )
                SELECT claimed.complaint_id, claimed.language_code, k.case_number,
                       coalesce(p.answer_mode, 'browser') AS answer_mode, s.phone_e164 AS phone, s.display_name
                FROM claimed
                JOIN staff s ON s.id = @staffId
                LEFT JOIN staff_presence p ON p.staff_id = @staffId
                LEFT JOIN complaints k ON k.id = claimed.complaint_id
                """, new { callId, staffId, now, seesEverything }, transaction, cancellationToken: cancellationToken));
            if (claimed is null)
            {
                await transaction.CommitAsync(cancellationToken);
                return new CallAcceptResult(false, "This call was taken by a colleague or is no longer ringing.");
            }
            legId = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
                INSERT INTO call_legs (call_id, staff_id, tier, status, answered_at) VALUES (@callId, @staffId, 0, 'accepted', @now)
                ON CONFLICT (call_id, staff_id, tier) DO UPDATE SET status = 'accepted'
                RETURNING id
                """, new { callId, staffId, now }, transaction, cancellationToken: cancellationToken));
            await CallPresence.OnCallAsync(connection, transaction, staffId, callId, cancellationToken);
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallTaken, Audience.Language(claimed.LanguageCode), claimed.ComplaintId,
                new { callId, caseNumber = claimed.CaseNumber, staffId, staffName = claimed.DisplayName }, cancellationToken);
            if (claimed.ComplaintId is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Staff, staffId, "call.accepted_console",
                    new { answer_mode = claimed.AnswerMode }, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }

        var to = claimed.AnswerMode == "phone" && claimed.Phone is not null ? claimed.Phone : "client:" + ClientIdentity(staffId);
        try
        {
            var created = await CallResource.CreateAsync(new CreateCallOptions(new PhoneNumber(to), new PhoneNumber(hotline.Value.TollFreeNumber))
            {
                Url = new Uri(urls.For(request, "console-bridge", ("leg", legId))),
                StatusCallback = new Uri(urls.For(request, "leg-status", ("leg", legId))),
                StatusCallbackEvent = ["initiated", "ringing", "answered", "completed"],
                Timeout = 20,
            }, twilioRest);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition("UPDATE call_legs SET leg_call_sid = @sid WHERE id = @legId",
                new { sid = created.Sid, legId }, cancellationToken: cancellationToken));
        }
        catch (TwilioException ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogBridgeFailed(logger, legId, TwilioFailures.Describe(ex));
            await ReleaseAsync(legId, CancellationToken.None);
            return new CallAcceptResult(false, "The call could not be put through to you; the on-call phones take over.");
        }
        return new CallAcceptResult(true, claimed.AnswerMode == "phone" ? "Your phone is ringing." : "Connecting in the browser.");
    }

    private sealed record TransferRow(string ConferenceSid, long? ComplaintId, int? TransferToStaffId, string? TransferToLanguage,
        string? CaseNumber, string? RestrictedTeam, string AnswerMode, string? Phone, string DisplayName, bool OnThisCall);

    /// <summary>
    /// "Accept" on a warm transfer: the colleague the investigator on the call chose, or the first of
    /// those offered it in another language's queue, is dialled into its conference (browser or phone).
    /// Once they are in, the first investigator leaves (<see cref="CallConferences.ApplyAsync"/>).
    /// A queue's offer is claimed under the call's row lock, so two accepts never both win; the winner
    /// must still be one who may take the call in that language now (<see cref="CallTakers"/>), and the
    /// others' banners are withdrawn with <see cref="ConsoleEventKinds.CallTaken"/>, as for a new call.
    /// </summary>
    public async Task<CallAcceptResult> AcceptTransferAsync(long callId, int staffId, CallControls controls, HttpRequest request, CancellationToken cancellationToken)
    {
        TransferRow? transfer;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            transfer = await connection.QuerySingleOrDefaultAsync<TransferRow>(new CommandDefinition("""
                SELECT c.conference_sid, c.complaint_id, c.transfer_to_staff_id, c.transfer_to_language, k.case_number, k.restricted_team,
                       coalesce(p.answer_mode, 'browser') AS answer_mode, s.phone_e164 AS phone, s.display_name,
                       coalesce(p.activity = 'on_call' AND p.activity_call_id = c.id, false) AS on_this_call
                FROM calls c JOIN staff s ON s.id = @staffId LEFT JOIN staff_presence p ON p.staff_id = @staffId
                LEFT JOIN complaints k ON k.id = c.complaint_id
                WHERE c.id = @callId AND c.conference_sid IS NOT NULL AND c.conference_ended_at IS NULL
                FOR UPDATE OF c
                """, new { callId, staffId }, transaction, cancellationToken: cancellationToken));
            // Offered to them by name (or claimed by them from a queue already: an accept retried).
            var theirs = transfer is { OnThisCall: false } && transfer.TransferToStaffId == staffId;
            // Still ringing in a queue, and they may take it in that language now.
            var fromQueue = transfer is { TransferToStaffId: null, TransferToLanguage: { } queue }
                && (await CallTakers.MayTakeNowAsync(connection, transaction, queue, transfer.RestrictedTeam, time.GetUtcNow(), cancellationToken)).Contains(staffId);
            if (transfer is null || !(theirs || fromQueue))
            {
                await transaction.CommitAsync(cancellationToken);
                return new CallAcceptResult(false, "This transfer is no longer waiting for you.");
            }
            if (fromQueue)
            {
                await connection.ExecuteAsync(new CommandDefinition("UPDATE calls SET transfer_to_staff_id = @staffId WHERE id = @callId",
                    new { callId, staffId }, transaction, cancellationToken: cancellationToken));
                await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallTaken, Audience.Language(transfer.TransferToLanguage!), transfer.ComplaintId,
                    new { callId, caseNumber = transfer.CaseNumber, staffId, staffName = transfer.DisplayName }, cancellationToken);
            }
            await CallPresence.OnCallAsync(connection, transaction, staffId, callId, cancellationToken);
            if (transfer.ComplaintId is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.Staff, staffId, "call.transfer_accepted",
                    new { answer_mode = transfer.AnswerMode, language = transfer.TransferToLanguage }, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }

        var to = transfer.AnswerMode == "phone" && transfer.Phone is not null ? transfer.Phone : "client:" + ClientIdentity(staffId);
        try
        {
            await controls.AddAsync(transfer.ConferenceSid, to, hotline.Value.TollFreeNumber, CallConferences.StaffLabel(staffId),
                new Uri(urls.For(request, "conference-status", ("call", callId))), cancellationToken: cancellationToken);
        }
        catch (TwilioException ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogTransferFailed(logger, callId, TwilioFailures.Describe(ex));
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
            await CallPresence.NotOnCallAsync(connection, null, staffId, callId, CancellationToken.None);
            if (transfer.TransferToLanguage is not null)
            {
                // The queue's other banners are gone: the transfer is over, and the first investigator may offer it again.
                await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE calls SET transfer_to_staff_id = NULL, transfer_to_language = NULL, transfer_from_staff_id = NULL
                    WHERE id = @callId AND transfer_to_staff_id = @staffId
                    """, new { callId, staffId }, cancellationToken: CancellationToken.None));
            }
            return new CallAcceptResult(false, "The call could not be put through to you; your colleague keeps it.");
        }
        return new CallAcceptResult(true, transfer.AnswerMode == "phone" ? "Your phone is ringing." : "Connecting in the browser.");
    }

    /// <summary>
    /// The accepted console leg never got through (no answer, busy, failed): the call is free again
    /// and the phone tiers ring, so the caller is not left waiting for someone who is not there.
    /// </summary>
    public async Task ReleaseAsync(long legId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var released = await connection.QuerySingleOrDefaultAsync<(long CallId, long? ComplaintId, string LanguageCode, int StaffId)?>(new CommandDefinition("""
            WITH leg AS (SELECT call_id, staff_id FROM call_legs WHERE id = @legId AND tier = 0)
            UPDATE calls c SET answered_by = NULL, answered_at = NULL, console_offer_until = NULL
            FROM leg WHERE c.id = leg.call_id AND c.answered_by = leg.staff_id AND c.stage = 'connect'
            RETURNING c.id, c.complaint_id, c.language_code, leg.staff_id
            """, new { legId }, transaction, cancellationToken: cancellationToken));
        if (released is { } call)
        {
            await connection.ExecuteAsync(new CommandDefinition("UPDATE call_legs SET status = 'failed' WHERE id = @legId",
                new { legId }, transaction, cancellationToken: cancellationToken));
            await CallPresence.NotOnCallAsync(connection, transaction, call.StaffId, call.CallId, cancellationToken);
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallMissed, Audience.Language(call.LanguageCode), call.ComplaintId,
                new { callId = call.CallId, staffId = call.StaffId, language = call.LanguageCode }, cancellationToken);
            if (call.ComplaintId is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, call.StaffId, "call.console_leg_failed", new { }, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// An investigator's leg is connected to the caller (browser, phone or a screened phone tier):
    /// announced with what their active-call panel shows (language, case number).
    /// </summary>
    public async Task AnnounceAnsweredAsync(long callId, long? complaintId, string language, int staffId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var caseNumber = complaintId is null ? null : await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT case_number FROM complaints WHERE id = @complaintId", new { complaintId }, cancellationToken: cancellationToken));
        await ConsoleEvents.AppendAsync(connection, null, ConsoleEventKinds.CallAnswered, Audience.Language(language), complaintId,
            new { callId, staffId, language, caseNumber }, cancellationToken);
    }

    [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "Transfer of call {CallId} could not reach the colleague: {Error}")]
    private static partial void LogTransferFailed(ILogger logger, long callId, string error);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Console leg {LegId} could not be called: {Error}; the phone tiers take over")]
    private static partial void LogBridgeFailed(ILogger logger, long legId, string error);
}
