using Dapper;
using Npgsql;
using WsrHotline.Pii;

namespace WsrHotline.Intake;

/// <summary>
/// Workers as the hotline knows them: found by a keyed hash of their number, the number itself
/// stored only encrypted.
/// </summary>
public sealed class CallerIdentities(PiiProtector pii)
{
    /// <summary>The keyed hash a number is found by (<c>caller_identities.phone_lookup</c>).</summary>
    public byte[] Lookup(string e164) => pii.LookupHash(e164, PiiPurpose.CallerPhone);

    /// <summary>The identity for an E.164 number, created on first contact. Safe under concurrent webhooks.</summary>
    public async Task<long> FindOrCreateAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string e164, string? preferredLanguage,
        CancellationToken cancellationToken)
    {
        var lookup = Lookup(e164);
        // DO UPDATE (not DO NOTHING) so RETURNING yields the id of an existing row too.
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
            INSERT INTO caller_identities (phone_lookup, phone_encrypted, preferred_language)
            VALUES (@lookup, @encrypted, @preferredLanguage)
            ON CONFLICT (phone_lookup) DO UPDATE
                SET preferred_language = coalesce(caller_identities.preferred_language, excluded.preferred_language)
            RETURNING id
            """,
            new { lookup, encrypted = pii.Encrypt(e164, PiiPurpose.CallerPhone), preferredLanguage },
            transaction, cancellationToken: cancellationToken));
    }

    public async Task<long?> FindAsync(NpgsqlConnection connection, string e164, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT id FROM caller_identities WHERE phone_lookup = @lookup",
            new { lookup = Lookup(e164) }, cancellationToken: cancellationToken));

    /// <summary>Records the name a worker gave, encrypted.</summary>
    public async Task SetNameAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long identityId, string name,
        CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE caller_identities SET name_encrypted = @encrypted WHERE id = @identityId",
            new { identityId, encrypted = pii.Encrypt(name, PiiPurpose.CallerName) },
            transaction, cancellationToken: cancellationToken));

    /// <summary>The clear number, for the explicit, audited "reveal" and for calling a worker back.</summary>
    public async Task<string?> RevealNumberAsync(NpgsqlConnection connection, long identityId, CancellationToken cancellationToken)
    {
        var encrypted = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT phone_encrypted FROM caller_identities WHERE id = @identityId",
            new { identityId }, cancellationToken: cancellationToken));
        return encrypted is null ? null : pii.Decrypt(encrypted, PiiPurpose.CallerPhone);
    }
}
