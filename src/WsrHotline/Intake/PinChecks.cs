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

public sealed record PinCheck(PinCheckOutcome Outcome, long? ComplaintId = null, string? Status = null);

/// <summary>
/// Case number + PIN checks, shared by the phone and messaging channels. Three wrong PINs lock the
/// case's check for 15 minutes and leave a timeline entry; the PIN itself is never stored or logged.
/// </summary>
public sealed class PinChecks(NpgsqlDataSource dataSource, TimeProvider time)
{
    public const int MaxAttempts = 3;
    public static readonly TimeSpan Lockout = TimeSpan.FromMinutes(15);

    public async Task<PinCheck> VerifyAsync(string caseNumber, string pin, string channel, CancellationToken cancellationToken)
    {
        if (!CaseNumbers.IsWellFormed(caseNumber))
        {
            return new PinCheck(PinCheckOutcome.UnknownCase);
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var complaint = await connection.QuerySingleOrDefaultAsync<(long Id, string PinHash, int FailedAttempts, DateTime? LockedUntil, string Status)>(
            new CommandDefinition("""
                SELECT id, pin_hash, pin_failed_attempts, pin_locked_until, status FROM complaints
                WHERE case_number = @caseNumber FOR UPDATE
                """, new { caseNumber }, transaction, cancellationToken: cancellationToken));
        if (complaint.Id == 0)
        {
            return new PinCheck(PinCheckOutcome.UnknownCase);
        }
        var now = time.GetUtcNow();
        if (complaint.LockedUntil is { } until && new DateTimeOffset(until, TimeSpan.Zero) > now)
        {
            return new PinCheck(PinCheckOutcome.Locked, complaint.Id);
        }

        if (Pins.Verify(pin, complaint.PinHash))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE complaints SET pin_failed_attempts = 0, pin_locked_until = NULL WHERE id = @Id",
                new { complaint.Id }, transaction, cancellationToken: cancellationToken));
            await Timeline.AppendAsync(connection, transaction, complaint.Id, TimelineActor.Worker, null, "status.checked",
                new { channel }, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new PinCheck(PinCheckOutcome.Verified, complaint.Id, complaint.Status);
        }

        var failures = complaint.FailedAttempts + 1;
        var locks = failures >= MaxAttempts;
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE complaints SET pin_failed_attempts = @attempts, pin_locked_until = @lockedUntil WHERE id = @Id
            """,
            new { complaint.Id, attempts = locks ? 0 : failures, lockedUntil = locks ? now + Lockout : (DateTimeOffset?)null },
            transaction, cancellationToken: cancellationToken));
        if (locks)
        {
            await Timeline.AppendAsync(connection, transaction, complaint.Id, TimelineActor.System, null, "status.locked",
                new { channel, wrong_pins = failures, locked_minutes = Lockout.TotalMinutes }, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new PinCheck(locks ? PinCheckOutcome.WrongPinNowLocked : PinCheckOutcome.WrongPin, complaint.Id);
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
