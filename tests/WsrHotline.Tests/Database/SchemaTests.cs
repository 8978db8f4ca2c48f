using Dapper;
using Npgsql;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Database;

public sealed class SchemaTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static async Task<long> NewComplaintAsync(NpgsqlConnection connection)
    {
        await connection.ExecuteAsync("INSERT INTO languages (code, name, native_name) VALUES ('es', 'Spanish', 'Español') ON CONFLICT DO NOTHING");
        return await connection.ExecuteScalarAsync<long>("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code)
            VALUES (lpad((floor(random() * 89999999) + 10000000)::bigint::text, 8, '0'), 'x', 'sms', 'es') RETURNING id
            """);
    }

    [Fact]
    public async Task The_case_timeline_is_append_only()
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var complaint = await NewComplaintAsync(connection);
        await connection.ExecuteAsync("INSERT INTO case_timeline (complaint_id, actor_kind, kind) VALUES (@complaint, 'system', 'complaint.opened')", new { complaint });

        var update = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("UPDATE case_timeline SET kind = 'rewritten'"));
        var delete = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("DELETE FROM case_timeline"));
        var truncate = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("TRUNCATE case_timeline"));

        Assert.All(new[] { update, delete, truncate }, error => Assert.Contains("append-only", error.MessageText, StringComparison.Ordinal));
        Assert.Equal("complaint.opened", await connection.ExecuteScalarAsync<string>("SELECT kind FROM case_timeline WHERE complaint_id = @complaint", new { complaint }));
    }

    [Fact]
    public async Task A_call_sid_and_a_message_sid_are_stored_once()
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();

        await connection.ExecuteAsync("INSERT INTO calls (call_sid, direction, status) VALUES ('CA-dup', 'inbound', 'ringing')");
        var call = await Assert.ThrowsAsync<PostgresException>(() =>
            connection.ExecuteAsync("INSERT INTO calls (call_sid, direction, status) VALUES ('CA-dup', 'inbound', 'ringing')"));
        await connection.ExecuteAsync("INSERT INTO messages (message_sid, direction, channel, status) VALUES ('SM-dup', 'inbound', 'sms', 'received')");
        var message = await Assert.ThrowsAsync<PostgresException>(() =>
            connection.ExecuteAsync("INSERT INTO messages (message_sid, direction, channel, status) VALUES ('SM-dup', 'inbound', 'sms', 'received')"));

        Assert.Equal(PostgresErrorCodes.UniqueViolation, call.SqlState);
        Assert.Equal(PostgresErrorCodes.UniqueViolation, message.SqlState);
    }

    [Fact]
    public async Task A_complaint_has_one_open_clock_of_each_kind_and_each_escalation_happens_once()
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var complaint = await NewComplaintAsync(connection);
        var deadline = await connection.ExecuteScalarAsync<long>(
            "INSERT INTO deadlines (complaint_id, kind, starts_at, due_at) VALUES (@complaint, 'resolved', now(), now() + interval '14 days') RETURNING id", new { complaint });

        var secondClock = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync(
            "INSERT INTO deadlines (complaint_id, kind, starts_at, due_at) VALUES (@complaint, 'resolved', now(), now() + interval '1 day')", new { complaint }));
        const string escalate = """
            INSERT INTO escalations (complaint_id, deadline_id, level, channel) VALUES (@complaint, @deadline, 'coordinator_alert', 'email')
            ON CONFLICT DO NOTHING
            """;
        var first = await connection.ExecuteAsync(escalate, new { complaint, deadline });
        var again = await connection.ExecuteAsync(escalate, new { complaint, deadline });

        Assert.Equal(PostgresErrorCodes.UniqueViolation, secondClock.SqlState);
        Assert.Equal((1, 0), (first, again));
    }

    [Fact]
    public async Task Lifecycle_statuses_outside_the_design_are_refused()
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var complaint = await NewComplaintAsync(connection);

        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            connection.ExecuteAsync("UPDATE complaints SET status = 'closed' WHERE id = @complaint", new { complaint }));

        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
    }
}
