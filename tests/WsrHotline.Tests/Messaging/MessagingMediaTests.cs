using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Ivr;
using WsrHotline.Messaging;
using WsrHotline.Pii;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// Workers' photos, documents and voice notes, end to end: the simulator's phone texts them, the app
/// downloads them from the simulator's Twilio stand-in (Basic auth, as Twilio's media URLs) into the
/// database, encrypted. The background sender and fetcher are off: tests run their rounds themselves.
/// </summary>
public sealed class MessagingMediaTests
{
    private static Task<VoiceScenario> StartAsync(Action<Dictionary<string, string?>>? adjust = null) =>
        VoiceScenario.StartAsync(settings =>
        {
            settings["Messaging:MediaRetryBaseDelay"] = "00:00:00";
            // One HTTP attempt per download, so that the fetcher's own retries are what is tested.
            settings["Twilio:MaxAttempts"] = "1";
            adjust?.Invoke(settings);
        });

    private static DueMedia Fetcher(VoiceScenario scenario) => new(scenario.Hotline.Factory.Services);

    private static DueReplies Sender(VoiceScenario scenario) => new(scenario.Hotline.Factory.Services);

    private static MediaStore Store(VoiceScenario scenario) => scenario.Hotline.Factory.Services.GetRequiredService<MediaStore>();

    private sealed record MediaRow(long Id, string Status, string? ContentType, long? SizeBytes, int Attempts, byte[]? ContentEncrypted, string? RefusedReason, string UrlEncrypted);

    private static async Task<List<MediaRow>> MediaAsync(VoiceScenario scenario)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<MediaRow>("""
            SELECT id, status, content_type, size_bytes, attempts, content_encrypted, refused_reason, url_encrypted
            FROM message_media ORDER BY id
            """)];
    }

    /// <summary>What the worker's phone received from the hotline, oldest first.</summary>
    private static async Task<List<string>> PhoneReceivesAsync(VoiceScenario scenario, string worker, string channel = TextChannels.Sms)
    {
        while (await Sender(scenario).SendDueAsync(CancellationToken.None) > 0)
        {
        }
        await scenario.Simulator.DeliverTextsAsync();
        return [.. scenario.Simulator.Inbox(worker, channel).Received.Select(text => text.Body)];
    }

    [Fact]
    public async Task A_photo_and_a_voice_note_are_fetched_with_twilios_credentials_and_stored_encrypted()
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550170";
        var photo = TextMedia.Photo(50_000);
        var voiceNote = TextMedia.VoiceNote(120_000) with { ContentType = "audio/ogg; codecs=opus" };

        await scenario.Simulator.TextAsync(worker, "Hello, this is my pay slip, they did not pay my overtime hours.", TextChannels.WhatsApp,
            textMedia: [photo, voiceNote]);
        await InboxWait.DrainedAsync(scenario.DataSource);
        var urls = Assert.Single(scenario.Simulator.Inbox(worker, TextChannels.WhatsApp).Texts).MediaUrls;

        // Nothing is downloaded in the webhook: the rows wait for the fetcher.
        Assert.Equal(["pending", "pending"], (await MediaAsync(scenario)).Select(m => m.Status));
        Assert.Equal(2, await Fetcher(scenario).FetchDueAsync(CancellationToken.None));
        Assert.Equal(0, await Fetcher(scenario).FetchDueAsync(CancellationToken.None));

        var rows = await MediaAsync(scenario);
        Assert.Equal([("stored", "image/jpeg", 50_000L), ("stored", "audio/ogg", 120_000L)], rows.Select(m => (m.Status, m.ContentType, m.SizeBytes!.Value)));
        var files = new[] { photo, voiceNote };
        for (var i = 0; i < rows.Count; i++)
        {
            // At rest: neither the file nor its address is readable.
            var clear = files[i].Content.ToArray();
            Assert.True(rows[i].ContentEncrypted!.AsSpan().IndexOf(clear.AsSpan(0, 32)) < 0, "the clear bytes are in the database");
            Assert.NotEqual(clear.Length, rows[i].ContentEncrypted!.Length);
            Assert.DoesNotContain(urls[i].Segments[^1], rows[i].UrlEncrypted, StringComparison.Ordinal);

            var opened = await Store(scenario).OpenDecryptedAsync(rows[i].Id, CancellationToken.None);
            Assert.NotNull(opened);
            Assert.Equal(clear, opened.Content.ToArray());
            Assert.Equal(MessagingOptions.MediaType(files[i].ContentType), opened.ContentType);
            Assert.NotNull(opened.ComplaintId);
            Assert.Equal(1, scenario.Simulator.MediaDownloads(urls[i].Segments[^1]));
        }

        var complaintId = (await Store(scenario).OpenDecryptedAsync(rows[0].Id, CancellationToken.None))!.ComplaintId!.Value;
        Assert.Equal(2, (await scenario.TimelineAsync(complaintId)).Count(kind => kind == "media.stored"));
        Assert.Equal(["lang:en", "lang:en"], await ConsoleEventsAsync(scenario, "media.stored"));

        // The stand-in serves media only with the account's credentials, as Twilio does.
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(urls[0])).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, urls[0]);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestKeys.TwilioAccountSid}:{TestKeys.TwilioAuthToken}")));
        Assert.Equal(photo.Content.ToArray(), await (await http.SendAsync(request)).Content.ReadAsByteArrayAsync());

        // The media addresses never reach a log.
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.All(urls, url => Assert.DoesNotContain(url.Segments[^1], logs, StringComparison.Ordinal));
        Assert.DoesNotContain(worker.TrimStart('+'), logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_type_the_hotline_does_not_keep_and_a_file_too_large_are_refused_and_the_worker_is_told_in_spanish()
    {
        await using var scenario = await StartAsync(settings => settings["Messaging:MediaMaxBytes"] = "100000");
        const string worker = "+15555550171";

        // A contact card: refused from Twilio's announced type, without downloading it.
        await scenario.Simulator.TextAsync(worker, "Hola, en la finca no nos pagan las horas extra.",
            textMedia: [new TextMedia("text/vcard", "BEGIN:VCARD\nEND:VCARD\n"u8.ToArray())]);
        await InboxWait.DrainedAsync(scenario.DataSource);
        // A video larger than Messaging:MediaMaxBytes: refused when the download shows its size.
        await scenario.Simulator.TextAsync(worker, "Este es el video del mayordomo.", textMedia: [new TextMedia("video/mp4", new byte[150_000])]);
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(1, await Fetcher(scenario).FetchDueAsync(CancellationToken.None));

        var rows = await MediaAsync(scenario);
        Assert.Equal([("refused", "type", 0), ("refused", "size", 1)], rows.Select(m => (m.Status, m.RefusedReason!, m.Attempts)));
        Assert.All(rows, row => Assert.Null(row.ContentEncrypted));
        Assert.Null(await Store(scenario).OpenDecryptedAsync(rows[1].Id, CancellationToken.None));
        var received = await PhoneReceivesAsync(scenario, worker);
        Assert.Equal(scenario.Flow.RenderText("es", IvrPromptKeys.SmsMediaRefusedType), received[1]);
        Assert.Equal(
            [scenario.Flow.RenderText("es", IvrPromptKeys.SmsReceived), scenario.Flow.RenderText("es", IvrPromptKeys.SmsMediaTooLarge)],
            received[2..]);
        Assert.StartsWith(scenario.Flow.RenderText("es", IvrPromptKeys.SmsWelcome), received[0], StringComparison.Ordinal);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(["type", "size"], await connection.QueryAsync<string>(
            "SELECT details->>'reason' FROM case_timeline WHERE kind = 'media.refused' ORDER BY id"));
        Assert.Equal(["lang:es", "lang:es"], await ConsoleEventsAsync(scenario, "media.refused"));
    }

    [Fact]
    public async Task A_download_that_fails_is_tried_again_later_and_then_stored()
    {
        await using var scenario = await StartAsync();
        const string worker = "+15555550172";
        var photo = TextMedia.Photo() with { FailFirst = 2, FailStatus = 500 };
        await scenario.Simulator.TextAsync(worker, "Hola, esta es la foto de mi talón de pago, no nos pagan en la finca.", textMedia: [photo]);
        await InboxWait.DrainedAsync(scenario.DataSource);
        var mediaSid = Assert.Single(Assert.Single(scenario.Simulator.Inbox(worker).Texts).MediaUrls).Segments[^1];

        await Fetcher(scenario).FetchDueAsync(CancellationToken.None);
        Assert.Equal(("pending", 1), (await MediaAsync(scenario)).Select(m => (m.Status, m.Attempts)).Single());
        await Fetcher(scenario).FetchDueAsync(CancellationToken.None);
        await Fetcher(scenario).FetchDueAsync(CancellationToken.None);

        var row = Assert.Single(await MediaAsync(scenario));
        Assert.Equal(("stored", 3), (row.Status, row.Attempts));
        Assert.Equal(3, scenario.Simulator.MediaDownloads(mediaSid));
        Assert.Equal(photo.Content.ToArray(), (await Store(scenario).OpenDecryptedAsync(row.Id, CancellationToken.None))!.Content.ToArray());
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'media.failed'"));
        // The worker hears nothing about the hiccup: only the welcome.
        Assert.Single(await PhoneReceivesAsync(scenario, worker));
    }

    [Fact]
    public async Task A_download_that_always_fails_is_shown_on_the_complaint_and_the_worker_is_asked_to_send_it_again()
    {
        await using var scenario = await StartAsync(settings => settings["Messaging:MediaMaxAttempts"] = "3");
        const string worker = "+15555550173";
        await scenario.Simulator.TextAsync(worker, "Bonjou, patwon an pa peye nou lajan nou pou travay semèn pase a.", TextChannels.WhatsApp,
            textMedia: [TextMedia.Photo() with { FailFirst = int.MaxValue, FailStatus = 404 }]);
        await InboxWait.DrainedAsync(scenario.DataSource);

        for (var round = 0; round < 5; round++)
        {
            await Fetcher(scenario).FetchDueAsync(CancellationToken.None);
        }

        var row = Assert.Single(await MediaAsync(scenario));
        Assert.Equal(("failed", 3), (row.Status, row.Attempts));
        var complaintId = await scenario.ScalarAsync<long>("SELECT id FROM complaints");
        Assert.Contains("media.failed", await scenario.TimelineAsync(complaintId));
        Assert.Equal("twilio: HTTP 404, error 20404",
            await scenario.ScalarAsync<string>("SELECT details->>'error' FROM case_timeline WHERE kind = 'media.failed'"));
        Assert.Equal(["lang:ht"], await ConsoleEventsAsync(scenario, "media.failed"));
        var received = await PhoneReceivesAsync(scenario, worker, TextChannels.WhatsApp);
        Assert.Equal(scenario.Flow.RenderText("ht", IvrPromptKeys.SmsMediaFailed), received[^1]);
        Assert.Equal(2, received.Count);
    }

    [Fact]
    public async Task A_retried_webhook_with_media_creates_one_media_row()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550174";
        var media = new[] { ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg") };

        var sid = await scenario.TextAsync(worker, "Hola, no nos pagan en la finca.", media: media);
        await scenario.TextAsync(worker, "Hola, no nos pagan en la finca.", sid: sid, media: media);

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var stored = await connection.QuerySingleAsync<(int Count, string Url)>(
            "SELECT count(*) OVER ()::int, url_encrypted FROM message_media");
        Assert.Equal(1, stored.Count);
        var pii = scenario.Factory.Services.GetRequiredService<PiiProtector>();
        Assert.Equal(media[0].Item1, pii.Decrypt(stored.Url, PiiPurpose.MediaUrl));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT num_media FROM messages WHERE direction = 'inbound'"));
        Assert.DoesNotContain("ME1", scenario.Factory.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Announced_attachments_without_a_usable_url_are_left_out_and_the_text_still_opens_the_complaint()
    {
        await using var scenario = await MessagingScenario.StartAsync();
        const string worker = "+15555550175";

        await scenario.TextAsync(worker, "Hola, no nos pagan en la finca.", numMedia: 3,
            media: [("not a url", "image/jpeg"), ("ftp://example.org/photo.jpg", "image/jpeg")]);

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM message_media"));
        Assert.Equal("case_opened", Assert.Single(await scenario.RepliesAsync(worker)).Purpose);
    }

    private static async Task<List<string>> ConsoleEventsAsync(VoiceScenario scenario, string timelineKind)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var events = await connection.QueryAsync<(string Audience, string Payload)>(
            "SELECT audience, payload::text FROM console_events WHERE kind = @kind ORDER BY id",
            new { kind = WsrHotline.LiveEvents.ConsoleEventKinds.MessageStatus });
        // Delivery reports are message.status events too; only the media ones name a timeline kind.
        return [.. events.Where(e => JsonDocument.Parse(e.Payload).RootElement.TryGetProperty("kind", out var kind) && kind.GetString() == timelineKind)
            .Select(e => e.Audience)];
    }
}
