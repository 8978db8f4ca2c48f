using Microsoft.Extensions.Options;
using Npgsql;

namespace WsrHotline.Database;

public static class DatabaseExtensions
{
    /// <summary>
    /// One <see cref="NpgsqlDataSource"/> for the process (Npgsql's guidance: open a connection per
    /// operation from it), the migration runner, and the start-up step that applies migrations.
    /// </summary>
    public static IServiceCollection AddHotlineDatabase(this IServiceCollection services)
    {
        services.AddOptions<DatabaseOptions>()
            .Configure<IConfiguration>((options, configuration) =>
                options.ConnectionString = configuration.GetConnectionString("Hotline") ?? "")
            .Validate(options => DatabaseOptions.IsUsable(options.ConnectionString),
                "ConnectionStrings:Hotline is missing or not a PostgreSQL connection string: set it in " +
                "configuration or in the environment variable ConnectionStrings__Hotline " +
                "(ops/db-up.sh prints one for the local cluster).")
            .ValidateOnStart();

        // snake_case columns map onto PascalCase properties and record parameters.
        Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;

        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
            builder.ConnectionStringBuilder.ApplicationName ??= "wsr-hotline";
            // The webhooks run the same few statements all day: let Npgsql prepare them once per
            // connection (parse and plan are a large share of a short statement's cost). A connection
            // string that sets Max Auto Prepare itself wins.
            if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
                builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            }
            return builder.Build();
        });

        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<StartupState>();
        services.AddSingleton<DatabaseOutages>();
        services.AddHostedService<StartupHostedService>();
        return services;
    }
}
