using Dapper;
using Npgsql;

namespace WsrHotline.Ivr;

/// <summary>
/// The hotline's languages are defined once, in <c>ivr-flows/hotline.yaml</c>; the database's
/// <c>languages</c> table (which complaints, staff and the rota refer to) follows it at every start.
/// A language removed from the flow stays in the table, inactive, so old complaints keep theirs.
/// </summary>
public static class IvrLanguageSync
{
    public static async Task SyncAsync(NpgsqlDataSource dataSource, IvrFlow flow, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO languages (code, name, native_name, active)
            SELECT code, name, native_name, true FROM unnest(@codes, @names, @nativeNames) AS l (code, name, native_name)
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, native_name = excluded.native_name, active = true;
            UPDATE languages SET active = false WHERE code <> ALL (@codes);
            """,
            new
            {
                codes = flow.Languages.Select(l => l.Code).ToArray(),
                names = flow.Languages.Select(l => l.Name).ToArray(),
                nativeNames = flow.Languages.Select(l => l.NativeName).ToArray(),
            },
            transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }
}
