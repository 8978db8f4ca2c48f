using Dapper;
using Npgsql;

namespace WsrHotline.Staff;

/// <summary>
/// <c>dotnet WsrHotline.dll create-admin EMAIL "Display Name"</c>: creates the first admin (or resets
/// an existing admin's password). The password is read from standard input, never from the command
/// line, so it stays out of shell history and process lists.
/// </summary>
public static class CreateAdminCommand
{
    public const int MinimumPasswordLength = 12;

    public static async Task<int> RunAsync(NpgsqlDataSource dataSource, string email, string displayName, TextReader input, TextWriter output)
    {
        if (!email.Contains('@', StringComparison.Ordinal))
        {
            await output.WriteLineAsync($"'{email}' is not an e-mail address.");
            return 2;
        }
        await output.WriteLineAsync($"Password for {email} (at least {MinimumPasswordLength} characters), then Enter:");
        var password = (await input.ReadLineAsync())?.Trim() ?? "";
        if (password.Length < MinimumPasswordLength)
        {
            await output.WriteLineAsync($"The password must have at least {MinimumPasswordLength} characters; nothing was changed.");
            return 2;
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var id = await connection.ExecuteScalarAsync<int>("""
            INSERT INTO staff (email, display_name, role) VALUES (@email, @displayName, 'admin')
            ON CONFLICT (lower(email)) DO UPDATE SET role = 'admin', active = true
            RETURNING id
            """, new { email, displayName }, transaction);
        await connection.ExecuteAsync("UPDATE staff SET password_hash = @hash WHERE id = @id",
            new { id, hash = StaffPasswords.Hash(new StaffMember(id, email), password) }, transaction);
        await transaction.CommitAsync();
        await output.WriteLineAsync($"Admin {email} can sign in at /signin.");
        return 0;
    }
}
