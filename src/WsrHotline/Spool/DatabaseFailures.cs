using Npgsql;

namespace WsrHotline.Spool;

/// <summary>Tells a database that is down (try again later) from a statement that can never succeed.</summary>
public static class DatabaseFailures
{
    /// <summary>Anything the database did or failed to do: a webhook meeting it is kept in the spool.</summary>
    public static bool IsDatabaseFailure(Exception ex) =>
        ex is NpgsqlException or TimeoutException
        || (ex is InvalidOperationException && ex.InnerException is NpgsqlException or TimeoutException);

    /// <summary>
    /// The database is unreachable, restarting or overloaded, or refused for a passing reason: the
    /// same statement will succeed later. Connection refused, socket and timeout errors (an
    /// <see cref="NpgsqlException"/> without a server answer), SQLSTATE class 08 (connection), 53
    /// (insufficient resources), 57P01-57P03 (shutting down, starting up), and 40001/40P01
    /// (serialization failure, deadlock), 55P03 (lock not available), 57014 (statement timeout).
    /// Everything else the server answers (class 22 data exceptions such as a NUL byte in text, 23
    /// constraint violations, 42 errors in the statement) will fail again however often it is tried.
    /// </summary>
    public static bool IsOutage(Exception ex) => ex switch
    {
        PostgresException refused => IsPassing(refused.SqlState),
        NpgsqlException or TimeoutException => true,
        InvalidOperationException { InnerException: { } inner } => IsOutage(inner),
        _ => false,
    };

    /// <summary>The SQLSTATE, or the exception's type name when the server gave none (for logs: never the message).</summary>
    public static string Describe(Exception ex) => ex switch
    {
        PostgresException refused => "SQLSTATE " + refused.SqlState,
        { InnerException: PostgresException inner } => "SQLSTATE " + inner.SqlState,
        _ => ex.GetType().Name,
    };

    private static bool IsPassing(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal)
        || sqlState.StartsWith("53", StringComparison.Ordinal)
        || sqlState is "57P01" or "57P02" or "57P03" or "40001" or "40P01" or "55P03" or "57014";
}
