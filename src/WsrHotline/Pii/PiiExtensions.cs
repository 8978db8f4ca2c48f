using System.Security.Cryptography;
using System.Text.Json;

namespace WsrHotline.Pii;

public static class PiiExtensions
{
    /// <summary>
    /// PII keys from configuration, validated at start. In Development, when no keys are configured,
    /// the keys are read from (or generated into) <see cref="PiiOptions.DevelopmentKeyFile"/>; anywhere
    /// else the app refuses to start without them.
    /// </summary>
    public static IServiceCollection AddPiiProtection(this IServiceCollection services)
    {
        services.AddOptions<PiiOptions>()
            .BindConfiguration("Pii")
            .PostConfigure<IHostEnvironment>((options, environment) =>
            {
                if (environment.IsDevelopment() && options.Keys.Count == 0 && !string.IsNullOrEmpty(options.DevelopmentKeyFile))
                {
                    LoadOrCreateDevelopmentKeys(options, Path.Combine(environment.ContentRootPath, options.DevelopmentKeyFile));
                }
            })
            .Validate(options => options.Keys.Count > 0,
                "Pii:Keys is empty: configure at least one 32-byte AES key in base64 (Pii__Keys__<id>), " +
                "for example from `openssl rand -base64 32`. Workers' numbers are never stored without it.")
            .Validate(options => options.Keys.ContainsKey(options.ActiveKeyId),
                "Pii:ActiveKeyId must name one of the keys in Pii:Keys (set Pii__ActiveKeyId).")
            .Validate(options => options.Keys.Values.All(PiiOptions.IsKey),
                "Every key in Pii:Keys must be exactly 32 bytes, base64-encoded (openssl rand -base64 32).")
            .Validate(options => PiiOptions.IsKey(options.LookupKey),
                "Pii:LookupKey must be a 32-byte HMAC key in base64 (set Pii__LookupKey; openssl rand -base64 32). " +
                "It cannot change once numbers are stored: they are found by it.")
            .ValidateOnStart();
        services.AddSingleton<PiiProtector>();
        return services;
    }

    private sealed record DevelopmentKeys(string ActiveKeyId, Dictionary<string, string> Keys, string LookupKey);

    private static void LoadOrCreateDevelopmentKeys(PiiOptions options, string path)
    {
        DevelopmentKeys keys;
        if (File.Exists(path))
        {
            keys = JsonSerializer.Deserialize<DevelopmentKeys>(File.ReadAllText(path))
                ?? throw new InvalidOperationException($"{path} is empty: delete it to generate new development keys.");
        }
        else
        {
            var keyId = "dev-" + DateTime.UtcNow.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
            keys = new DevelopmentKeys(
                keyId,
                new Dictionary<string, string> { [keyId] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) },
                Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, JsonSerializer.Serialize(keys));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        options.ActiveKeyId = keys.ActiveKeyId;
        options.Keys = keys.Keys;
        options.LookupKey = keys.LookupKey;
    }
}
