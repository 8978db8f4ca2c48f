using Npgsql;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>A migrated database of its own for one test class, dropped afterwards.</summary>
public sealed class DatabaseFixture : IAsyncLifetime
{
    public string Name { get; private set; } = "";

    public string ConnectionString => PostgresServer.ConnectionStringFor(Name);

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Name = await PostgresServer.CreateMigratedDatabaseAsync();
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(Name);
    }
}
