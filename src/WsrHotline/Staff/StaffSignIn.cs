using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;

namespace WsrHotline.Staff;

/// <summary>The outcome of a sign-in attempt. Unknown e-mail and wrong password look the same.</summary>
public enum SignInOutcome
{
    SignedIn,
    WrongCredentials,
    LockedOut,
}

/// <summary>
/// Checks a staff member's e-mail and password, counting failures: after
/// <see cref="StaffSignInOptions.MaxFailedAttempts"/> wrong passwords in a row the account is locked
/// for <see cref="StaffSignInOptions.LockoutDuration"/>, even for the right password.
/// </summary>
public sealed partial class StaffSignIn(
    NpgsqlDataSource dataSource, IOptions<StaffSignInOptions> options, TimeProvider time, ILogger<StaffSignIn> logger)
{
    // Hashing something for an unknown e-mail keeps its answer as slow as a real check.
    private static readonly string DummyHash = StaffPasswords.Hash(new StaffMember(0, "nobody"), Guid.NewGuid().ToString());

    private sealed record StaffRow(int Id, string Email, string DisplayName, string Role, string? Team,
        string? PasswordHash, int FailedSignIns, DateTime? LockedUntil);

    public async Task<(SignInOutcome Outcome, ClaimsPrincipal? Principal)> CheckAsync(
        string email, string password, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var staff = await connection.QuerySingleOrDefaultAsync<StaffRow>(new CommandDefinition("""
            SELECT id, email, display_name, role, team, password_hash, failed_sign_ins, locked_until
            FROM staff WHERE lower(email) = lower(@email) AND active
            FOR UPDATE
            """, new { email = email.Trim() }, transaction, cancellationToken: cancellationToken));

        if (staff?.PasswordHash is null)
        {
            StaffPasswords.Verify(new StaffMember(0, "nobody"), DummyHash, password);
            return (SignInOutcome.WrongCredentials, null);
        }
        var now = time.GetUtcNow();
        if (staff.LockedUntil > now.UtcDateTime)
        {
            LogLockedOut(logger, staff.Id);
            return (SignInOutcome.LockedOut, null);
        }

        var verdict = StaffPasswords.Verify(new StaffMember(staff.Id, staff.Email), staff.PasswordHash, password);
        if (verdict == PasswordVerificationResult.Failed)
        {
            var failures = staff.FailedSignIns + 1;
            var locks = failures >= options.Value.MaxFailedAttempts;
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE staff SET failed_sign_ins = @failures, locked_until = @lockedUntil WHERE id = @id
                """,
                new { id = staff.Id, failures = locks ? 0 : failures, lockedUntil = locks ? now + options.Value.LockoutDuration : (DateTimeOffset?)null },
                transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            LogFailedSignIn(logger, staff.Id, failures, locks);
            return (locks ? SignInOutcome.LockedOut : SignInOutcome.WrongCredentials, null);
        }

        var rehash = verdict == PasswordVerificationResult.SuccessRehashNeeded
            ? StaffPasswords.Hash(new StaffMember(staff.Id, staff.Email), password)
            : null;
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE staff SET failed_sign_ins = 0, locked_until = NULL, last_sign_in_at = @now,
                             password_hash = coalesce(@rehash, password_hash)
            WHERE id = @id
            """, new { id = staff.Id, now, rehash }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        LogSignedIn(logger, staff.Id);
        return (SignInOutcome.SignedIn, Principal(staff.Id, staff.DisplayName, staff.Role, staff.Team));
    }

    public static ClaimsPrincipal Principal(int staffId, string displayName, string role, string? team)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, staffId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new(ClaimTypes.Name, displayName),
            new(ClaimTypes.Role, role),
        };
        if (team is not null)
        {
            claims.Add(new Claim(StaffClaims.TeamClaim, team));
        }
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieAuthenticationDefaults.AuthenticationScheme));
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Staff {StaffId} signed in")]
    private static partial void LogSignedIn(ILogger logger, int staffId);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Staff {StaffId}: wrong password ({Failures} in a row), locked: {Locked}")]
    private static partial void LogFailedSignIn(ILogger logger, int staffId, int failures, bool locked);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Staff {StaffId}: sign-in refused, the account is locked")]
    private static partial void LogLockedOut(ILogger logger, int staffId);
}
