using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Dapper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WsrHotline.Messaging;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// A signed text whose MediaUrl points into the hotline's own network (the probe's
/// <c>http://127.0.0.1:…/internal-admin/secret</c>, in every spelling, the private ranges, the cloud
/// metadata service, a redirect from Twilio's media URL) is never fetched: the attachment is failed
/// at once and shown on the case, and a loopback listener standing in for the internal admin page
/// sees no connection at all. The simulator's stand-in, under Twilio:ApiBaseUrl, is still served.
/// </summary>
public sealed class MediaHostTests
{
    [Fact]
    public async Task Media_urls_into_the_hotlines_network_are_never_fetched_and_show_on_the_case_as_not_fetched()
    {
        await using var admin = await InternalAdmin.StartAsync();
        await using var scenario = await VoiceScenario.StartAsync(settings =>
        {
            settings["Messaging:MediaRetryBaseDelay"] = "00:00:00";
            settings["Twilio:MaxAttempts"] = "1";
        });
        const string worker = "+15555550190";
        var port = admin.Port.ToString(CultureInfo.InvariantCulture);
        string[] refused =
        [
            $"http://127.0.0.1:{port}/internal-admin/secret",
            $"http://2130706433:{port}/internal-admin/secret",
            $"http://0x7f000001:{port}/internal-admin/secret",
            $"http://0177.0.0.1:{port}/internal-admin/secret",
            $"http://127.1:{port}/internal-admin/secret",
            $"http://[::1]:{port}/internal-admin/secret",
            $"http://localhost:{port}/internal-admin/secret",
            $"https://localhost:{port}/internal-admin/secret",
            $"https://2130706433:{port}/internal-admin/secret",
            $"https://[::ffff:127.0.0.1]:{port}/internal-admin/secret",
            "https://10.0.0.1/internal-admin/secret",
            "https://172.16.0.1/internal-admin/secret",
            "https://192.168.1.1/internal-admin/secret",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://169.254.169.254/latest/meta-data/",
            // https is required of every media host but the configured ApiBaseUrl.
            "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        ];

        // The worker's first text, through the simulator: its photo is served by the stand-in and stored.
        await scenario.Simulator.TextAsync(worker, "Hello, they did not pay our overtime, here is my pay slip.", textMedia: [TextMedia.Photo()]);
        // Twilio's own media URL (the stand-in) answering with a redirect into the network.
        await scenario.Simulator.TextAsync(worker, "And this one.",
            textMedia: [TextMedia.Photo() with { RedirectTo = new Uri($"http://127.0.0.1:{port}/internal-admin/secret") }]);
        var sid = 0;
        foreach (var chunk in refused.Chunk(MessagingEndpoints.MaxMediaPerMessage))
        {
            var response = await scenario.SignedPostAsync("/twilio/messaging/incoming", [
                ("MessageSid", $"SMssrf{++sid:D28}"), ("From", worker), ("To", "+18005550101"), ("Body", "photos"),
                ("NumMedia", chunk.Length.ToString(CultureInfo.InvariantCulture)),
                .. chunk.SelectMany((url, n) => new[] { ($"MediaUrl{n}", url), ($"MediaContentType{n}", "image/png") })]);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await InboxWait.DrainedAsync(scenario.DataSource);

        var fetcher = new DueMedia(scenario.Hotline.Factory.Services);
        for (var round = 0; round < 20 && await fetcher.FetchDueAsync(CancellationToken.None) > 0; round++)
        {
        }

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var rows = (await connection.QueryAsync<(string Status, int Attempts, string? LastError)>(
            "SELECT status, attempts, last_error FROM message_media ORDER BY id")).ToList();
        Assert.Equal(2 + refused.Length, rows.Count);
        Assert.Equal(("stored", 1), (rows[0].Status, rows[0].Attempts));
        // Refused, not retried: failed after the one attempt, with the reason and never the address.
        Assert.All(rows.Skip(1), row => Assert.Equal("failed", row.Status));
        Assert.All(rows.Skip(1), row => Assert.Equal(1, row.Attempts));
        Assert.All(rows.Skip(1), row => Assert.StartsWith("refused: ", row.LastError, StringComparison.Ordinal));
        Assert.Equal("refused: scheme not allowed", rows[1].LastError);

        // Nothing reached the internal admin: not a request, not even a connection.
        Assert.Equal(0, admin.Connections);

        // On the case: one "could not be fetched" entry per attachment; the address is in no log.
        var complaintId = await connection.ExecuteScalarAsync<long>("SELECT id FROM complaints");
        Assert.Equal(1 + refused.Length, (await scenario.TimelineAsync(complaintId)).Count(kind => kind == "media.failed"));
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.DoesNotContain("internal-admin", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("meta-data", logs, StringComparison.Ordinal);
        Assert.Contains("refused", logs, StringComparison.Ordinal);
    }

    /// <summary>A loopback HTTP server on 127.0.0.1 and [::1] answering "secret", counting every connection made to it.</summary>
    private sealed class InternalAdmin : IAsyncDisposable
    {
        private readonly WebApplication app;
        private int connections;

        private InternalAdmin(WebApplication app, int port)
        {
            this.app = app;
            Port = port;
        }

        public int Port { get; }

        public int Connections => Volatile.Read(ref connections);

        public static async Task<InternalAdmin> StartAsync()
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            InternalAdmin? admin = null;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenLocalhost(port, listen => listen.Use(next => context =>
            {
                Interlocked.Increment(ref admin!.connections);
                return next(context);
            })));
            var app = builder.Build();
            app.Run(context =>
            {
                context.Response.ContentType = "image/png";
                return context.Response.WriteAsync("secret");
            });
            admin = new InternalAdmin(app, port);
            await app.StartAsync();
            return admin;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
