using Dapper;
using Npgsql;

namespace WsrHotline.Intake;

/// <summary>The outcome of a case number + PIN check.</summary>
public enum PinCheckOutcome
{
    UnknownCase,
    Locked,
    WrongPin,
    WrongPinNowLocked,
    Verified,
}

/// <param name="FromCaseCaller">The check came from the number that filed the case (its caller identity).</param>
public sealed record PinCheck(PinCheckOutcome Outcome, long? ComplaintId = null, string? Status = null, bool FromCaseCaller = false);

/// <summary>
/// Case number + PIN checks, shared by the phone and messaging channels; the PIN itself is never
/// stored or logged. Wrong PINs are counted per case and per caller (<c>pin_check_tries</c>, by the keyed
/// hash of the number, as caller identities are found: never the number), so someone who knows a case number cannot lock the worker out:
/// three wrong PINs from one number lock that number's check of that case for 15 minutes. Wrong PINs
/// from every number but the worker's own also count together on the case (<c>complaints.pin_failed_attempts</c>):
/// at <see cref="MaxOtherAttempts"/> the case is locked for 15 minutes to every number but the
/// worker's, so many numbers cannot try PIN after PIN either. Each lock leaves a timeline entry.
/// </summary>
public sealed class PinChecks(NpgsqlDataSource dataSource, TimeProvider time, CallerIdentities identities)
{
    public const int MaxAttempts = 3;

    /// <summary>Wrong PINs from other numbers than the worker's, together, before the case locks to them.</summary>
    public const int MaxOtherAttempts = 10;

    public static readonly TimeSpan Lockout = TimeSpan.FromMinutes(15);

    /// <param name="callerE164">Who is checking: their number (E.164), hashed here; null for a withheld number.</param>
    public async Task<PinCheck> VerifyAsync(string caseNumber, string pin, string channel, string? callerE164, CancellationToken cancellationToken)
    {
        if (!CaseNumbers.IsWellFormed(caseNumber))
        {
            return new PinCheck(PinCheckOutcome.UnknownCase);
        }
        var caller = callerE164 is null ? null : identities.Lookup(callerE164);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaint = await connection.QuerySingleOrDefaultAsync<(long Id, string PinHash, int FailedAttempts, DateTime? LockedUntil, string Status, byte[]? CallerLookup)>(new CommandDefinition("""
            SELECT c.id, c.pin_hash, c.pin_failed_attempts, c.pin_locked_until, c.status, ci.phone_lookup AS caller_lookup
            FROM complaints c LEFT JOIN caller_identities ci ON ci.id = c.caller_identity_id
            WHERE c.case_number = @caseNumber FOR UPDATE OF c
            """, new { caseNumber }, transaction, cancellationToken: cancellationToken));
        if (complaint.Id == 0)
        {
            return new PinCheck(PinCheckOutcome.UnknownCase);
        }
        var own = caller is not null && complaint.CallerLookup is not null && caller.AsSpan().SequenceEqual(complaint.CallerLookup);
        var tries = await connection.QuerySingleOrDefaultAsync<(int FailedAttempts, DateTime? LockedUntil)>(new CommandDefinition("""
            SELECT failed_attempts, locked_until FROM pin_check_tries
            WHERE complaint_id = @Id AND caller_lookup IS NOT DISTINCT FROM @caller::bytea
            """, new { complaint.Id, caller }, transaction, cancellationToken: cancellationToken));
        var now = time.GetUtcNow();
        bool LockedNow(DateTime? until) => until is { } value && new DateTimeOffset(value, TimeSpan.Zero) > now;
        if (LockedNow(tries.LockedUntil) || (!own && LockedNow(complaint.LockedUntil)))
        {
            return new PinCheck(PinCheckOutcome.Locked, complaint.Id, FromCaseCaller: own);
        }

        if (Pins.Verify(pin, complaint.PinHash))
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                DELETE FROM pin_check_tries WHERE complaint_id = @Id AND caller_lookup IS NOT DISTINCT FROM @caller::bytea;
                UPDATE complaints SET pin_failed_attempts = 0, pin_locked_until = NULL WHERE id = @Id;
                """, new { complaint.Id, caller }, transaction, cancellationToken: cancellationToken));
            await Timeline.AppendAsync(connection, transaction, complaint.Id, TimelineActor.Worker, null, "status.checked",
                new { channel, own_number = own }, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new PinCheck(PinCheckOutcome.Verified, complaint.Id, complaint.Status, own);
        }

        var failures = tries.FailedAttempts + 1;
        var locks = failures >= MaxAttempts;
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO pin_check_tries (complaint_id, caller_lookup, failed_attempts, locked_until)
            VALUES (@Id, @caller::bytea, @attempts, @lockedUntil)
            ON CONFLICT ON CONSTRAINT pin_check_tries_caller
            DO UPDATE SET failed_attempts = EXCLUDED.failed_attempts, locked_until = EXCLUDED.locked_until
            """,
            new { complaint.Id, caller, attempts = locks ? 0 : failures, lockedUntil = locks ? now + Lockout : (DateTimeOffset?)null },
            transaction, cancellationToken: cancellationToken));
        if (locks)
        {
            await Timeline.AppendAsync(connection, transaction, complaint.Id, TimelineActor.System, null, "status.locked",
                new { channel, wrong_pins = failures, locked_minutes = Lockout.TotalMinutes, scope = own ? "own_number" : "this_number" },
                cancellationToken);
        }
        var lockedToOthers = false;
        if (!own)
        {
            var others = complaint.FailedAttempts + 1;
            lockedToOthers = others >= MaxOtherAttempts;
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE complaints SET pin_failed_attempts = @attempts, pin_locked_until = @lockedUntil WHERE id = @Id
                """,
                new { complaint.Id, attempts = lockedToOthers ? 0 : others, lockedUntil = lockedToOthers ? now + Lockout : (DateTimeOffset?)null },
                transaction, cancellationToken: cancellationToken));
            if (lockedToOthers)
            {
                await Timeline.AppendAsync(connection, transaction, complaint.Id, TimelineActor.System, null, "status.locked",
                    new { channel, wrong_pins = others, locked_minutes = Lockout.TotalMinutes, scope = "every_other_number" }, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return new PinCheck(locks || lockedToOthers ? PinCheckOutcome.WrongPinNowLocked : PinCheckOutcome.WrongPin, complaint.Id, FromCaseCaller: own);
    }

    /// <summary>
    /// The case number, and a fresh PIN when the worker has not been told one yet (the PIN is never
    /// stored in clear, so telling it again means issuing a new one). Null PIN: they already know it.
    /// </summary>
    public async Task<(string CaseNumber, string? Pin)> IssueIfUntoldAsync(long complaintId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var pin = Pins.NewPin();
        var issued = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition("""
            UPDATE complaints SET pin_hash = @hash, pin_told_at = now()
            WHERE id = @complaintId AND pin_told_at IS NULL
            RETURNING case_number
            """, new { complaintId, hash = Pins.Hash(pin) }, cancellationToken: cancellationToken));
        if (issued is not null)
        {
            return (issued, pin);
        }
        var caseNumber = await connection.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT case_number FROM complaints WHERE id = @complaintId", new { complaintId }, cancellationToken: cancellationToken));
        return (caseNumber!, null);
    }
}
