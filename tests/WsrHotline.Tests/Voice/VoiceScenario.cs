using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Ivr;
using WsrHotline.Simulator;
using WsrHotline.Tests.Hosting;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Simulator;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// One end-to-end voice scenario: a fresh migrated database, the real app on a loopback port with
/// the call simulator standing in for Twilio, and a rota the test writes itself.
/// </summary>
public sealed class VoiceScenario : IAsyncDisposable
{
    private readonly string _database;
    private int _staff;

    private VoiceScenario(string database, SimulatedHotline hotline)
    {
        _database = database;
        Hotline = hotline;
    }

    public SimulatedHotline Hotline { get; }

    public string DatabaseName => _database;

    public VoiceSimulator Simulator => Hotline.Simulator;

    public NpgsqlDataSource DataSource => Hotline.Factory.Services.GetRequiredService<NpgsqlDataSource>();

    public IvrFlow Flow => Hotline.Factory.Services.GetRequiredService<IvrFlowProvider>().Current;

    public static async Task<VoiceScenario> StartAsync(Action<Dictionary<string, string?>>? adjust = null, string? connectionString = null)
    {
        var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var hotline = SimulatedHotline.Start(connectionString?.Replace("{database}", database, StringComparison.Ordinal)
            ?? PostgresServer.ConnectionStringFor(database), adjust);
        var scenario = new VoiceScenario(database, hotline);
        if (connectionString is null)
        {
            using var client = hotline.CreateClient();
            Assert.Equal(HttpStatusCode.OK, (await HealthTests.WaitForReadyAsync(client)).StatusCode);
        }
        return scenario;
    }

    /// <summary>An investigator on call now for a language and tier; returns their staff id.</summary>
    public async Task<int> OnCallAsync(string language, int tier, string phone)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        var number = Interlocked.Increment(ref _staff);
        var id = await connection.ExecuteScalarAsync<int>("""
            INSERT INTO staff (email, display_name, role, phone_e164) VALUES (@email, @name, 'investigator', @phone) RETURNING id
            """, new { email = $"oncall{number}@test.example", name = $"On call {number}", phone });
        await connection.ExecuteAsync("""
            INSERT INTO staff_languages (staff_id, language_code) VALUES (@id, @language);
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
            VALUES (@id, @language, @tier, now() - interval '1 hour', now() + interval '2 hours', 'America/New_York');
            """, new { id, language, tier = (short)tier });
        return id;
    }

    /// <summary>
    /// Waits until the call's console offer was made and has run out, in real time (the call itself
    /// notices at its next webhook, in the simulator's time).
    /// </summary>
    public Task ConsoleOfferRanOutAsync(SimulatedCall call) => Eventually.TrueAsync(
        async () => await ScalarAsync<bool>(
            "SELECT coalesce(bool_and(console_offer_until <= clock_timestamp()), false) FROM calls WHERE call_sid = @Sid", new { call.Sid }),
        "the console offer was made and ran out");

    /// <summary>
    /// After a warm transfer: the colleague <paramref name="to"/> is in the call's conference, the
    /// first investigator <paramref name="from"/> has left it, and the worker hears the colleague say
    /// <paramref name="words"/> (they answered in the browser, <c>client:staff-N</c>).
    /// </summary>
    public async Task TakenOverAsync(SimulatedCall call, long callId, int from, int to, string words)
    {
        var conference = Simulator.FindConference($"call-{callId}")!;
        Assert.Contains(conference.Participants, p => p.Label == $"staff-{to}" && p.Status == "connected");
        await Eventually.TrueAsync(() => Task.FromResult(!conference.Participants.Any(p => p.Label == $"staff-{from}" && p.Status == "connected")),
            "the first investigator left the call once their colleague was in");
        await Simulator.Phone("client:staff-" + to).SayAsync(words);
        Assert.Contains(words, call.Heard);
    }

    /// <summary>
    /// Whether the worker's call is talking with an investigator: in the call's own conference with an
    /// investigator's leg connected (the bridge is a conference, <c>call-{id}</c>).
    /// </summary>
    public static bool TalkingWithInvestigator(SimulatedCall call) =>
        call.State == CallState.InConference
        && call.Conference is { } conference
        && conference.Participants.Any(p => p.Label?.StartsWith("staff-", StringComparison.Ordinal) == true && p.Status == "connected");

    /// <summary>A webhook signed as Twilio signs it, posted to the app as Twilio would.</summary>
    public async Task<HttpResponseMessage> SignedPostAsync(string path, params (string Name, string Value)[] fields)
    {
        var form = fields.Select(field => KeyValuePair.Create(field.Name, field.Value)).ToList();
        var publicUrl = "https://hotline.test" + path;
        using var client = Hotline.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add(WsrHotline.Simulator.TwilioRequestSigner.SignatureHeader, WsrHotline.Simulator.TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, publicUrl, form));
        return await client.SendAsync(request);
    }

    /// <summary>A prompt as a Say speaks it in a voice language (numbers digit by digit).</summary>
    public string Text(string language, string key, IReadOnlyDictionary<string, string>? values = null) =>
        string.Join(" ", Flow.Render(language, key, values, "https://hotline.test/ivr-audio").Segments.OfType<SaySegment>().Select(s => s.Text));

    public async Task<List<string>> TimelineAsync(long complaintId)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<string>(
            "SELECT kind FROM case_timeline WHERE complaint_id = @complaintId ORDER BY id", new { complaintId })];
    }

    public async Task<T> ScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, parameters))!;
    }

    public async ValueTask DisposeAsync()
    {
        await Hotline.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(_database);
    }
}
