using Npgsql;

namespace WsrHotline.Database;

/// <summary>The hotline's PostgreSQL: <c>ConnectionStrings:Hotline</c>.</summary>
public sealed class DatabaseOptions
{
    public string ConnectionString { get; set; } = "";

    internal static bool IsUsable(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return false;
        }
        try
        {
            var parsed = new NpgsqlConnectionStringBuilder(connectionString);
            return !string.IsNullOrEmpty(parsed.Host);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
