using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace WsrHotline.Simulator;

/// <summary>
/// Texting: workers' phones send SMS and WhatsApp messages to the hotline's messaging webhook, and the
/// Messages stand-in delivers the app's replies to those phones' inboxes, with delivery reports.
/// Texts run on wall-clock time, apart from the calls' virtual time: nothing in them waits.
/// </summary>
public sealed partial class VoiceSimulator
{
    private readonly ConcurrentDictionary<(string Number, string Channel), TextThread> textThreads = new();
    private readonly ConcurrentDictionary<string, TextDelivery> textDeliveries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ServedMedia> media = new(StringComparer.Ordinal);
    private readonly List<PendingDelivery> pendingDeliveries = [];
    private readonly ConcurrentQueue<LoggedMessage> messageLog = new();

    private sealed record PendingDelivery(TaskCompletionSource Go, Task Done);

    private sealed class ServedMedia(string messageSid, TextMedia file)
    {
        public string MessageSid { get; } = messageSid;

        public TextMedia File { get; } = file;

        public int Downloads;
    }

    /// <summary>Every worker's phone that texted or was texted, per channel.</summary>
    public IReadOnlyList<TextThread> TextThreads =>
        [.. textThreads.Values.Where(t => t.Texts.Count > 0).OrderBy(t => t.Number, StringComparer.Ordinal).ThenBy(t => t.Channel, StringComparer.Ordinal)];

    /// <summary>The phone's conversation with the hotline on a channel (created empty on first use).</summary>
    public TextThread Inbox(string number, string channel = TextChannels.Sms)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(number);
        return textThreads.GetOrAdd((TextChannels.Number(number), CheckChannel(channel)), key => new TextThread(key.Number, key.Channel));
    }

    /// <summary>What happens to texts sent to this number (either channel); delivered unless set.</summary>
    public void SetTextDelivery(string number, TextDelivery delivery)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(number);
        ArgumentNullException.ThrowIfNull(delivery);
        textDeliveries[TextChannels.Number(number)] = delivery;
    }

    public TextDelivery TextDeliveryFor(string number) =>
        textDeliveries.GetValueOrDefault(TextChannels.Number(number)) ?? TextDelivery.Delivered;

    /// <summary>
    /// A worker texts the hotline: posts the signed "A message comes in" webhook with Twilio's
    /// parameters and returns what the app answered. <paramref name="to"/> defaults to the channel's
    /// hotline number; <paramref name="textMedia"/> is served by the simulator for the app to fetch.
    /// With <paramref name="webhookLost"/> the text reaches Twilio (its Messages list has it) but its
    /// webhook never reaches the hotline, as after an outage Twilio gave up on: status 0.
    /// </summary>
    public async Task<TextSent> TextAsync(
        string from, string body, string channel = TextChannels.Sms, string? to = null, IReadOnlyList<TextMedia>? textMedia = null,
        bool webhookLost = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(from);
        ArgumentNullException.ThrowIfNull(body);
        channel = CheckChannel(channel);
        var number = TextChannels.Number(from);
        var sid = NewSid("SM");
        var attachments = textMedia ?? [];
        var text = new SimulatedText(sid, fromPhone: true, body, DateTimeOffset.UtcNow, attachments.Count);
        Inbox(number, channel).Add(text);

        var parameters = new List<KeyValuePair<string, string>>
        {
            new("MessageSid", sid),
            new("SmsMessageSid", sid),
            new("SmsSid", sid),
            new("AccountSid", Settings.AccountSid),
            new("MessagingServiceSid", ""),
            new("From", TextChannels.Address(number, channel)),
            new("To", to ?? (channel == TextChannels.WhatsApp ? Settings.WhatsAppSender : Settings.SmsNumber)),
            new("Body", body),
            new("NumMedia", attachments.Count.ToString(CultureInfo.InvariantCulture)),
            new("NumSegments", "1"),
            new("SmsStatus", "received"),
            new("ApiVersion", "2010-04-01"),
        };
        var mediaUrls = new List<Uri>();
        for (var i = 0; i < attachments.Count; i++)
        {
            var mediaSid = NewSid("ME");
            media[mediaSid] = new ServedMedia(sid, attachments[i]);
            mediaUrls.Add(Webhooks.MediaUrl(sid, mediaSid));
            parameters.Add(new($"MediaUrl{i}", mediaUrls[^1].AbsoluteUri));
            parameters.Add(new($"MediaContentType{i}", attachments[i].ContentType));
        }

        text.MediaUrls = mediaUrls;
        var hotlineNumber = parameters.Single(p => p.Key == "To").Value;
        messageLog.Enqueue(new LoggedMessage(sid, TextChannels.Address(number, channel), hotlineNumber, body, "inbound", text.At,
            [.. mediaUrls.Select((url, i) => (url.Segments[^1], attachments[i].ContentType))]));

        if (channel == TextChannels.WhatsApp)
        {
            parameters.Add(new("WaId", number.TrimStart('+')));
        }

        if (webhookLost)
        {
            text.Status = "webhook lost";
            return new TextSent(sid, 0, "");
        }

        var (status, answer) = await Webhooks.PostAsync(Webhooks.AppUrl(Settings.MessagingUrl), parameters, "incoming message");
        text.Status = status is >= 200 and < 300 ? "received" : $"http {status}";
        return new TextSent(sid, status, answer);
    }

    /// <summary>Every message Twilio would list for the account: workers' texts to the hotline (inbound) and its replies, oldest first.</summary>
    internal IReadOnlyList<LoggedMessage> MessageLog => [.. messageLog];

    /// <summary>A media file a worker's text carried, for the app to download.</summary>
    public TextMedia? FindMedia(string mediaSid) => media.GetValueOrDefault(mediaSid)?.File;

    /// <summary>How often the app asked for this attachment (failed downloads included).</summary>
    public int MediaDownloads(string mediaSid) => media.TryGetValue(mediaSid, out var served) ? Volatile.Read(ref served.Downloads) : 0;

    /// <summary>
    /// The stand-in's answer to a media download: 404 for a file it does not have (or under another
    /// message), the file's <see cref="TextMedia.FailStatus"/> while it is set to fail, else the file.
    /// </summary>
    internal (int Status, TextMedia? File) DownloadMedia(string messageSid, string mediaSid)
    {
        if (!media.TryGetValue(mediaSid, out var served) || served.MessageSid != messageSid)
        {
            return (404, null);
        }

        var attempt = Interlocked.Increment(ref served.Downloads);
        return attempt <= served.File.FailFirst ? (served.File.FailStatus, null) : (200, served.File);
    }

    /// <summary>
    /// Sends every delivery report still waiting (without waiting out <see cref="VoiceSimulatorSettings.TextDeliveryDelay"/>)
    /// and returns once the app has answered them all: tests call it after the app sent its replies.
    /// </summary>
    public async Task DeliverTextsAsync()
    {
        PendingDelivery[] pending;
        lock (pendingDeliveries)
        {
            pending = [.. pendingDeliveries];
        }

        foreach (var delivery in pending)
        {
            delivery.Go.TrySetResult();
        }

        await Task.WhenAll(pending.Select(p => p.Done));
    }

    /// <summary>
    /// The Messages stand-in's create: the text lands in the phone's inbox at once, and its delivery
    /// reports go to <paramref name="statusCallback"/> after the app has had the answer. Null when the
    /// number opted out (the create is refused; nothing reaches the phone).
    /// </summary>
    internal SimulatedText? RegisterOutboundText(
        string to, string from, string body, int mediaCount, Uri? statusCallback, string? contentSid = null, string? contentVariables = null)
    {
        var delivery = TextDeliveryFor(to);
        if (delivery.Outcome == TextOutcome.OptedOut)
        {
            return null;
        }

        var text = new SimulatedText(NewSid("SM"), fromPhone: false, body, DateTimeOffset.UtcNow, mediaCount)
        {
            ContentSid = contentSid,
            ContentVariables = contentVariables,
        };
        Inbox(TextChannels.Number(to), TextChannels.Of(to)).Add(text);
        messageLog.Enqueue(new LoggedMessage(text.Sid, from, to, body, "outbound-api", text.At, []));
        LogOutboundTextRegistered(Logger, text.Sid);

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        PendingDelivery? entry = null;
        var done = Task.Run(async () =>
        {
            await Task.WhenAny(go.Task, Task.Delay(Settings.TextDeliveryDelay));
            try
            {
                await ReportDeliveryAsync(text, to, from, delivery, statusCallback);
            }
            finally
            {
                lock (pendingDeliveries)
                {
                    pendingDeliveries.Remove(entry!);
                }
            }
        });
        entry = new PendingDelivery(go, done);
        lock (pendingDeliveries)
        {
            // The task may have finished already (no delay): then there is nothing left to wait for.
            if (!done.IsCompleted)
            {
                pendingDeliveries.Add(entry);
            }
        }

        return text;
    }

    /// <summary>sent, then delivered; or sent then undelivered, or failed, with the configured error code.</summary>
    private async Task ReportDeliveryAsync(SimulatedText text, string to, string from, TextDelivery delivery, Uri? statusCallback)
    {
        var steps = delivery.Outcome switch
        {
            TextOutcome.Undelivered => new[] { "sent", "undelivered" },
            TextOutcome.Failed => ["failed"],
            _ => ["sent", "delivered"],
        };
        foreach (var status in steps)
        {
            text.Status = status;
            var final = status is "undelivered" or "failed";
            if (final)
            {
                text.ErrorCode = delivery.ErrorCode;
            }

            if (statusCallback is null)
            {
                continue;
            }

            var parameters = new List<KeyValuePair<string, string>>
            {
                new("MessageSid", text.Sid),
                new("SmsSid", text.Sid),
                new("AccountSid", Settings.AccountSid),
                new("From", from),
                new("To", to),
                new("MessageStatus", status),
                new("SmsStatus", status),
                new("ApiVersion", "2010-04-01"),
            };
            if (final && delivery.ErrorCode is { } code)
            {
                parameters.Add(new("ErrorCode", code.ToString(CultureInfo.InvariantCulture)));
            }

            await Webhooks.PostAsync(statusCallback, parameters, "message status");
        }
    }

    private static string CheckChannel(string channel) => channel switch
    {
        TextChannels.Sms or TextChannels.WhatsApp => channel,
        _ => throw new ArgumentException("The channel must be sms or whatsapp.", nameof(channel)),
    };

    [LoggerMessage(EventId = 7305, EventName = "SimulatorOutboundTextRegistered", Level = LogLevel.Debug,
        Message = "Simulated Twilio API created message {MessageSid}")]
    private static partial void LogOutboundTextRegistered(ILogger logger, string messageSid);
}

/// <summary>A message as the stand-in's Messages list gives it (inbound: a worker's text; outbound-api: the hotline's reply).</summary>
internal sealed record LoggedMessage(
    string Sid, string From, string To, string Body, string Direction, DateTimeOffset At, IReadOnlyList<(string MediaSid, string ContentType)> Media);
