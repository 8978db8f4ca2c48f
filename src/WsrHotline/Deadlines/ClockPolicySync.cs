using Dapper;
using Npgsql;

namespace WsrHotline.Deadlines;

/// <summary>
/// The "Clocks" configuration is copied into <c>clock_policies</c> at every start, so that the SQL that
/// opens and recomputes clocks (inside the transaction of the change, from any capability) reads one
/// policy. Instances started with different settings: the last one started wins.
/// </summary>
public static class ClockPolicySync
{
    /// <summary>The advisory lock class of the copy (the two-key space: no other lock uses it).</summary>
    private const int SyncLockClass = 5001;

    public static async Task SyncAsync(NpgsqlDataSource dataSource, ClocksOptions options, CancellationToken cancellationToken)
    {
        var rows = (from severity in options.Severities()
                    from stage in severity.Clocks.Stages()
                    select new
                    {
                        severity = severity.Severity,
                        kind = stage.Kind,
                        dueAfter = stage.DueAfter,
                        anchor = stage.Anchor,
                        toBuyer = options.BuyerKinds.Contains(stage.Kind),
                        grace = severity.Clocks.BuyerGrace,
                    }).ToList();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Instances starting together copy one after the other: two concurrent DELETE-then-INSERTs
        // each miss the other's new rows and the second fails on the primary key.
        await connection.ExecuteAsync(new CommandDefinition("""
            SELECT pg_advisory_xact_lock(@lockClass, 0);
            DELETE FROM clock_policies;
            INSERT INTO clock_policies (severity, kind, due_after, anchor, escalate_to_buyer, buyer_grace, warn_fraction)
            SELECT *, @warnAt FROM unnest(@severities, @kinds, @dueAfters, @anchors, @toBuyers, @graces);
            """,
            new
            {
                severities = rows.Select(r => r.severity).ToArray(),
                kinds = rows.Select(r => r.kind).ToArray(),
                dueAfters = rows.Select(r => r.dueAfter).ToArray(),
                anchors = rows.Select(r => r.anchor).ToArray(),
                toBuyers = rows.Select(r => r.toBuyer).ToArray(),
                graces = rows.Select(r => r.grace).ToArray(),
                warnAt = options.WarnAt,
                lockClass = SyncLockClass,
            }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }
}
