using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Pii;

namespace WsrHotline.Staff;

/// <summary>The outcome of a sign-in attempt. Unknown e-mail and wrong password look the same.</summary>
public enum SignInOutcome
{
    SignedIn,
    WrongCredentials,
    LockedOut,
}

/// <summary>
/// Checks a staff member's e-mail and password, and throttles guessing. The rule:
/// <list type="bullet">
/// <item>Failures are counted per (e-mail, source address) pair: after
/// <see cref="StaffSignInOptions.MaxFailedAttempts"/> in a <see cref="StaffSignInOptions.LockoutDuration"/>
/// window that pair is locked for the lockout duration, even for the right password. A stranger who
/// guesses locks only themselves: the investigator signs in from their own address as usual.</item>
/// <item>Failures are counted per source address across every e-mail: after
/// <see cref="StaffSignInOptions.AddressMaxFailedAttempts"/> the address is locked (one machine
/// spraying guesses over many accounts).</item>
/// <item>Failures against one e-mail from every address together never lock the account (that would
/// let anyone lock an investigator out during a shift); past
/// <see cref="StaffSignInOptions.AccountSlowdownAfter"/> they slow every answer for that e-mail by a
/// delay that doubles with each further failure, from <see cref="StaffSignInOptions.AccountSlowdownStep"/>
/// up to <see cref="StaffSignInOptions.AccountSlowdownMax"/>. The answer comes later; it is not refused.</item>
/// <item>A sign-in that succeeds clears its pair. Attempts refused as locked are not counted.</item>
/// </list>
/// An unknown e-mail goes through the same counters, rows and answers as a known one, and every
/// attempt, locked ones included, runs exactly one password hash (against a dummy hash when there is
/// no account or the attempt is locked), so neither the answer nor its time tells whether an
/// e-mail belongs to staff.
/// </summary>
public sealed partial class StaffSignIn(
    NpgsqlDataSource dataSource, PiiProtector pii, IOptions<StaffSignInOptions> options, TimeProvider time, ILogger<StaffSignIn> logger)
{
    private const string AccountKeyPurpose = "staff.sign_in";

    // Made with the same hasher (and so the same work factor) as the staff's passwords.
    private static readonly string DummyHash = StaffPasswords.Hash(new StaffMember(0, "nobody"), Guid.NewGuid().ToString());

    private sealed record StaffRow(int Id, string Email, string DisplayName, string Role, string? Team, string? PasswordHash);

    private sealed record Counter(string Scope, int Failures, DateTime WindowStartedAt, DateTime? LockedUntil);

    /// <summary>The keyed hash an e-mail is counted under (trimmed, case-insensitive), as stored in <c>sign_in_throttle</c>.</summary>
    public string AccountKey(string email) =>
        Convert.ToHexStringLower(pii.LookupHash(email.Trim().ToUpperInvariant(), AccountKeyPurpose));

    /// <summary>
    /// The source address as counted: an IPv6 address by its /64 (what one subscriber gets), an
    /// IPv4-mapped one as IPv4; "unknown" when the server does not know it.
    /// </summary>
    public static string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes) + "/64";
        }
        return address.ToString();
    }

    public async Task<(SignInOutcome Outcome, ClaimsPrincipal? Principal)> CheckAsync(
        string email, string password, IPAddress? source, CancellationToken cancellationToken)
    {
        var (outcome, principal, delay) = await CheckOnceAsync(email, password, source, cancellationToken);
        if (delay > TimeSpan.Zero)
        {
            // After the transaction: the wait holds no connection and no row lock.
            await Task.Delay(delay, time, cancellationToken);
        }
        return (outcome, principal);
    }

    private async Task<(SignInOutcome Outcome, ClaimsPrincipal? Principal, TimeSpan Delay)> CheckOnceAsync(
        string email, string password, IPAddress? source, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var accountKey = AccountKey(email);
        var address = AddressKey(source);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The three counters, created when missing and locked, always in this order (account,
        // address, pair) so concurrent attempts cannot deadlock.
        var counters = (await connection.QueryAsync<Counter>(new CommandDefinition("""
            INSERT INTO sign_in_throttle (scope, account_key, address, window_started_at)
            VALUES ('account', @accountKey, '', @now), ('address', '', @address, @now), ('pair', @accountKey, @address, @now)
            ON CONFLICT (scope, account_key, address) DO UPDATE SET failures = sign_in_throttle.failures
            RETURNING scope, failures, window_started_at, locked_until
            """, new { accountKey, address, now }, transaction, cancellationToken: cancellationToken)))
            .ToDictionary(c => c.Scope, c => Current(c, now, settings.LockoutDuration), StringComparer.Ordinal);
        var account = counters["account"];
        var addressCounter = counters["address"];
        var pair = counters["pair"];
        var delay = SlowdownFor(account.Failures, settings);

        var staff = await connection.QuerySingleOrDefaultAsync<StaffRow>(new CommandDefinition("""
            SELECT id, email, display_name, role, team, password_hash
            FROM staff WHERE lower(email) = lower(@email) AND active
            """, new { email = email.Trim() }, transaction, cancellationToken: cancellationToken));

        if (pair.LockedUntil > now || addressCounter.LockedUntil > now)
        {
            // As slow as a password check, and not counted: it is not a guess.
            StaffPasswords.Verify(new StaffMember(0, "nobody"), DummyHash, password);
            await transaction.CommitAsync(cancellationToken);
            LogLockedOut(logger, staff?.Id, pair.LockedUntil > now ? "pair" : "address");
            return (SignInOutcome.LockedOut, null, delay);
        }

        PasswordVerificationResult verdict;
        if (staff?.PasswordHash is { } hash)
        {
            verdict = StaffPasswords.Verify(new StaffMember(staff.Id, staff.Email), hash, password);
        }
        else
        {
            StaffPasswords.Verify(new StaffMember(0, "nobody"), DummyHash, password);
            verdict = PasswordVerificationResult.Failed;
        }
        if (verdict == PasswordVerificationResult.Failed)
        {
            pair = Failed(pair, settings.MaxFailedAttempts, now, settings.LockoutDuration);
            addressCounter = Failed(addressCounter, settings.AddressMaxFailedAttempts, now, settings.LockoutDuration);
            account = Failed(account, int.MaxValue, now, settings.LockoutDuration);
            await SaveAsync(connection, transaction, accountKey, address, [account, addressCounter, pair], cancellationToken);
            // Rows whose window and lock are over go, a few at a time.
            await connection.ExecuteAsync(new CommandDefinition("""
                DELETE FROM sign_in_throttle WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM sign_in_throttle
                    WHERE window_started_at < @stale AND (locked_until IS NULL OR locked_until < @now) LIMIT 20))
                """, new { stale = now - settings.LockoutDuration, now }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            var locked = pair.LockedUntil > now || addressCounter.LockedUntil > now;
            LogFailedSignIn(logger, staff?.Id, pair.Failures, addressCounter.Failures, account.Failures, locked);
            if (addressCounter.LockedUntil > now && addressCounter.Failures == settings.AddressMaxFailedAttempts)
            {
                LogAddressLocked(logger, address, addressCounter.Failures);
            }
            return (locked ? SignInOutcome.LockedOut : SignInOutcome.WrongCredentials, null, delay);
        }

        var member = staff!;
        pair = pair with { Failures = 0, WindowStartedAt = now, LockedUntil = null };
        await SaveAsync(connection, transaction, accountKey, address, [account, addressCounter, pair], cancellationToken);
        var rehash = verdict == PasswordVerificationResult.SuccessRehashNeeded
            ? StaffPasswords.Hash(new StaffMember(member.Id, member.Email), password)
            : null;
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE staff SET last_sign_in_at = @now, password_hash = coalesce(@rehash, password_hash) WHERE id = @id
            """, new { id = member.Id, now, rehash }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        LogSignedIn(logger, member.Id);
        return (SignInOutcome.SignedIn, Principal(member.Id, member.DisplayName, member.Role, member.Team), delay);
    }

    /// <summary>A counter whose lock or window is over starts afresh.</summary>
    private static Counter Current(Counter counter, DateTime now, TimeSpan window) =>
        counter.LockedUntil is { } until ? (until <= now ? Fresh(counter, now) : counter)
        : counter.WindowStartedAt + window <= now ? Fresh(counter, now) : counter;

    private static Counter Fresh(Counter counter, DateTime now) => counter with { Failures = 0, WindowStartedAt = now, LockedUntil = null };

    private static Counter Failed(Counter counter, int lockAt, DateTime now, TimeSpan lockout)
    {
        var failures = counter.Failures + 1;
        return counter with { Failures = failures, LockedUntil = failures >= lockAt ? now + lockout : null };
    }

    /// <summary>The delay before answering for an e-mail that has failed this often from all addresses together.</summary>
    public static TimeSpan SlowdownFor(int accountFailures, StaffSignInOptions settings)
    {
        if (accountFailures < settings.AccountSlowdownAfter)
        {
            return TimeSpan.Zero;
        }
        var doublings = Math.Min(accountFailures - settings.AccountSlowdownAfter, 16);
        var delay = settings.AccountSlowdownStep * Math.Pow(2, doublings);
        return delay < settings.AccountSlowdownMax ? delay : settings.AccountSlowdownMax;
    }

    private static Task<int> SaveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountKey, string address,
        Counter[] counters, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition("""
            UPDATE sign_in_throttle t SET failures = u.failures, window_started_at = u.window_started_at, locked_until = u.locked_until
            FROM unnest(@scopes, @failures, @windows, @locks) AS u (scope, failures, window_started_at, locked_until)
            WHERE t.scope = u.scope
              AND t.account_key = CASE WHEN u.scope = 'address' THEN '' ELSE @accountKey END
              AND t.address = CASE WHEN u.scope = 'account' THEN '' ELSE @address END
            """,
            new
            {
                accountKey,
                address,
                scopes = counters.Select(c => c.Scope).ToArray(),
                failures = counters.Select(c => c.Failures).ToArray(),
                // As timestamptz (DateTimeOffset): an array of DateTimes is sent as timestamp without time zone.
                windows = counters.Select(c => Utc(c.WindowStartedAt)).ToArray(),
                locks = counters.Select(c => c.LockedUntil is { } until ? Utc(until) : (DateTimeOffset?)null).ToArray(),
            }, transaction, cancellationToken: cancellationToken));

    private static DateTimeOffset Utc(DateTime at) => new(DateTime.SpecifyKind(at, DateTimeKind.Utc));

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

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning,
        Message = "Sign-in failed (staff {StaffId}, none: unknown e-mail): {PairFailures} from this address, {AddressFailures} from the address in all, {AccountFailures} for the e-mail in all; locked: {Locked}")]
    private static partial void LogFailedSignIn(ILogger logger, int? staffId, int pairFailures, int addressFailures, int accountFailures, bool locked);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Sign-in refused (staff {StaffId}, none: unknown e-mail): the {Scope} is locked")]
    private static partial void LogLockedOut(ILogger logger, int? staffId, string scope);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "Sign-in: source address {Address} locked after {Failures} failures across e-mails")]
    private static partial void LogAddressLocked(ILogger logger, string address, int failures);
}
