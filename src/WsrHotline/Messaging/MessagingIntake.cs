using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Escalation;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;

namespace WsrHotline.Messaging;

/// <summary>An attachment of an inbound message: Twilio's <c>MediaUrl{N}</c> and <c>MediaContentType{N}</c>.</summary>
public sealed class InboundMedia(string url, string contentType)
{
    // A class, not a record: a record's ToString would print the URL, which serves the worker's file.
    public string Url { get; } = url;

    public string ContentType { get; } = contentType;
}

/// <summary>An inbound SMS or WhatsApp message, as the webhook gives it; the sender already normalised.</summary>
public sealed record InboundMessage(string MessageSid, string Channel, string SenderE164, string Body, int NumMedia, IReadOnlyList<InboundMedia>? Media = null)
{
    /// <summary>The hotline number the worker texted (Twilio's <c>To</c>): replies go from it. Null: the channel's configured number.</summary>
    public string? To { get; init; }

    /// <summary>The text came to a number the configuration does not name (<see cref="HotlineNumbers.Classify"/>): flagged for an admin.</summary>
    public bool ToUnconfiguredNumber { get; init; }

    /// <summary>
    /// Replayed from the outage spool: when the text first reached the hotline (its place in the
    /// sender's order) and until when it waits before processing (<c>Spool:ReplaySettle</c>). Null: live.
    /// </summary>
    public (DateTimeOffset ReceivedAt, DateTimeOffset HeldUntil)? Spooled { get; init; }
}

/// <summary>What a message led to, for the log (never the words).</summary>
/// <summary>What became of a message, and the work it left for jobs once its transaction commits.</summary>
public sealed record Received(IntakeOutcome Outcome, IntakeWork Work);

/// <summary>Replies to send (<see cref="OutboundSender"/>) and attachments to download (<see cref="MediaFetcher"/>).</summary>
public sealed record IntakeWork(IReadOnlyList<long> Replies, IReadOnlyList<long> Media)
{
    public static readonly IntakeWork None = new([], []);
}

public enum IntakeOutcome
{
    Duplicate,
    LanguageMenu,
    ComplaintOpened,
    AddedToComplaint,
    Empty,
    Status,
    Help,
    OptedOut,
    OptedIn,
}

/// <summary>
/// What happens to a worker's text once it leaves the inbox: the message is stored (encrypted), joined
/// to the worker's open complaint or opens one, and the replies it causes are queued, all in the
/// processor's one transaction, so a failure leaves nothing half-written and the inbox row is retried.
/// Replies are rows in <c>messages</c> (status 'pending') that <see cref="OutboundSender"/> sends.
/// </summary>
public sealed class MessagingIntake(
    PinChecks pinChecks, PiiProtector pii, CallerIdentities identities, IvrFlowProvider flows, IOptions<MessagingOptions> options,
    RetaliationWatch retaliationWatch)
{
    /// <summary>Complaint statuses after which a new message opens a new complaint.</summary>
    private const string ClosedStatuses = "('resolved', 'verified', 'not_substantiated', 'rejected', 'referred')";

    private sealed record Conversation(long Id, long CallerIdentityId, string? LanguageCode, DateTime? OptedOutAt);

    /// <summary>The stored message, and the worker's open complaint as the transaction sees it once it holds the conversation.</summary>
    private sealed record Stored(long? MessageId, long? OpenId, string? OpenStatus, bool Joined, bool StaffReplied);

    /// <param name="StaffReplied">An investigator's text has gone to the worker on it (not failed, undelivered or suppressed).</param>
    private sealed record OpenComplaint(long Id, string Status, bool StaffReplied);

    /// <summary>
    /// Handles one message inside the caller's transaction (<see cref="InboxProcessor"/>'s, which also
    /// deletes the inbox row in it); the caller commits. Nothing here commits on its own but the PIN
    /// check of a STATUS message with a case number and PIN, which commits at once on a connection of
    /// its own (<see cref="PinChecks"/>) so that a lock-out holds whatever happens next.
    /// </summary>
    public async Task<Received> ReceiveAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, InboundMessage message, CancellationToken cancellationToken)
    {
        var flow = flows.Current;

        // The worker's identity (created on first contact) and conversation. The conversation row stays
        // locked until commit: a worker's messages are handled one at a time.
        var identityId = await identities.FindOrCreateAsync(connection, transaction, message.SenderE164, preferredLanguage: null, cancellationToken);
        var conversation = await connection.QuerySingleAsync<Conversation>(new CommandDefinition("""
            INSERT INTO conversations (caller_identity_id, channel, hotline_number)
            VALUES (@identityId, @Channel, @To)
            ON CONFLICT (caller_identity_id, channel) DO UPDATE
            SET last_inbound_at = now(), hotline_number = COALESCE(EXCLUDED.hotline_number, conversations.hotline_number)
            RETURNING id, caller_identity_id, language_code, opted_out_at
            """,
            new { identityId, message.Channel, message.To }, transaction, cancellationToken: cancellationToken));

        var command = MessageText.ParseCommand(message.Body);
        var isEmpty = string.IsNullOrWhiteSpace(message.Body) && message.NumMedia == 0;
        var purpose = command.Command != Command.None ? "command" : isEmpty ? "empty" : "complaint";
        var body = command.Command == Command.Status ? MaskPin(message.Body, command) : message.Body;
        // The message, and the worker's open complaint read in a snapshot taken after the lock above
        // (so a complaint a concurrent message of theirs just opened is seen). Words about the problem
        // from a worker whose language is known join that complaint in the same statement (the usual
        // case: one statement less). MessageSid is the idempotency key: a retried webhook finds its
        // row and changes nothing.
        var stored = await connection.QuerySingleAsync<Stored>(new CommandDefinition($"""
            WITH open AS (
                SELECT id, status,
                       EXISTS (SELECT FROM messages r
                               WHERE r.complaint_id = complaints.id AND r.direction = 'outbound' AND r.purpose = 'staff_reply'
                                 AND r.status NOT IN ('failed', 'undelivered', 'canceled', 'suppressed')) AS staff_replied
                FROM complaints
                WHERE caller_identity_id = @identityId AND status NOT IN {ClosedStatuses}
                ORDER BY opened_at DESC LIMIT 1
            ), inserted AS (
                INSERT INTO messages (message_sid, direction, channel, caller_identity_id, conversation_id, body_encrypted,
                                      num_media, status, purpose, complaint_id, to_unconfigured_number)
                VALUES (@MessageSid, 'inbound', @Channel, @identityId, @conversationId, @body, @NumMedia, 'received', @purpose,
                        CASE WHEN @joinOpen THEN (SELECT id FROM open) END, @ToUnconfiguredNumber)
                ON CONFLICT (message_sid) DO NOTHING
                RETURNING id, complaint_id
            ), touched AS (
                UPDATE complaints SET last_activity_at = now() WHERE id = (SELECT complaint_id FROM inserted)
            )
            SELECT (SELECT id FROM inserted) AS message_id, open.id AS open_id, open.status AS open_status,
                   (SELECT complaint_id FROM inserted) IS NOT NULL AS joined, COALESCE(open.staff_replied, false) AS staff_replied
            FROM (SELECT) AS one LEFT JOIN open ON true
            """,
            new
            {
                message.MessageSid,
                message.Channel,
                identityId,
                conversationId = conversation.Id,
                body = body.Length == 0 ? null : pii.Encrypt(body, PiiPurpose.MessageBody),
                message.NumMedia,
                purpose,
                message.ToUnconfiguredNumber,
                joinOpen = purpose == "complaint" && conversation.LanguageCode is not null,
            }, transaction, cancellationToken: cancellationToken));
        if (stored.MessageId is not { } messageId)
        {
            // A webhook Twilio retried after its first copy was processed (and left the inbox).
            return new Received(IntakeOutcome.Duplicate, IntakeWork.None);
        }

        var open = stored.OpenId is { } openId ? new OpenComplaint(openId, stored.OpenStatus!, stored.StaffReplied) : null;
        var turn = new Turn(connection, transaction, message, identityId, conversation, messageId, open, stored.Joined, flow, retaliationWatch, cancellationToken);
        var outcome = command.Command switch
        {
            Command.Stop => await turn.StopAsync(command),
            Command.Start => await turn.StartAsync(command),
            Command.Help => turn.Help(command),
            Command.Status => await turn.StatusAsync(command, pinChecks),
            Command.New => await turn.NewComplaintAsync(command.LanguageCode!),
            _ when isEmpty => turn.Empty(),
            _ => await turn.ComplaintTextAsync(),
        };
        await turn.KeepMediaAsync(message.Media ?? [], options.Value, pii);
        await turn.FlagUnconfiguredNumberAsync();
        await turn.QueueRepliesAsync(pii);
        await turn.AnnounceAsync();
        return new Received(outcome, turn.Work);
    }

    /// <summary>A STATUS message is stored without its PIN: "STATUS 12345674 ****".</summary>
    private static string MaskPin(string body, ParsedCommand command) =>
        command.Arguments.Length >= 2
            ? string.Join(' ', [body.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], command.Arguments[0], "****"])
            : body;

    /// <summary>One inbound message being handled, inside the transaction.</summary>
    /// <param name="open">The worker's open complaint when the message arrived (null: none).</param>
    /// <param name="joined">The message was stored on <paramref name="open"/> already.</param>
    private sealed class Turn(
        NpgsqlConnection connection, NpgsqlTransaction transaction, InboundMessage message, long identityId,
        Conversation conversation, long messageId, OpenComplaint? open, bool joined, IvrFlow flow, RetaliationWatch retaliationWatch,
        CancellationToken cancellationToken)
    {
        private readonly List<Reply> replies = [];

        /// <summary>The replies queued to send and the attachments to download, for their jobs once the transaction commits.</summary>
        public IntakeWork Work { get; private set; } = IntakeWork.None;
        private string? language = conversation.LanguageCode;
        private bool optedOut = conversation.OptedOutAt is not null;
        private long? complaintId;

        public async Task<IntakeOutcome> StopAsync(ParsedCommand command)
        {
            language ??= command.LanguageCode;
            await SetOptOutAsync(true);
            // The one text sent after STOP, saying it worked (for SMS, Twilio may refuse it with 21610: fine).
            replies.Add(new Reply(Replies.StoppedPurpose, flow.RenderText(ReplyLanguage, IvrPromptKeys.SmsStopped)));
            optedOut = true;
            return IntakeOutcome.OptedOut;
        }

        public async Task<IntakeOutcome> StartAsync(ParsedCommand command)
        {
            language ??= command.LanguageCode;
            await SetOptOutAsync(false);
            optedOut = false;
            Say("started", IvrPromptKeys.SmsStarted);
            return IntakeOutcome.OptedIn;
        }

        public IntakeOutcome Help(ParsedCommand command)
        {
            language ??= command.LanguageCode;
            Say("help", IvrPromptKeys.SmsHelp);
            return IntakeOutcome.Help;
        }

        public async Task<IntakeOutcome> StatusAsync(ParsedCommand command, PinChecks pinChecks)
        {
            // The text's own language: its script (Bengali digits after a Latin STATUS), else its keyword's.
            var textLanguage = MessageText.DetectLanguage(message.Body) ?? command.LanguageCode;
            language ??= textLanguage;
            if (command.Arguments is [var caseNumber, var pin, ..])
            {
                var check = await pinChecks.VerifyAsync(caseNumber, pin, message.Channel, message.SenderE164, cancellationToken);
                complaintId = check.ComplaintId;
                // The worker's own number is answered in their conversation's language; any other
                // number in the language it wrote in (its conversation may hold another one).
                var answerIn = check.FromCaseCaller ? ReplyLanguage : textLanguage ?? ReplyLanguage;
                switch (check.Outcome)
                {
                    case PinCheckOutcome.Verified:
                        Say("status", IvrPromptKeys.ForStatus(check.Status!), answerIn);
                        break;
                    case PinCheckOutcome.Locked or PinCheckOutcome.WrongPinNowLocked:
                        Say("status", IvrPromptKeys.SmsStatusLocked, answerIn);
                        break;
                    default:
                        Say("status", IvrPromptKeys.SmsStatusWrong, answerIn);
                        break;
                }
            }
            else if (command.Arguments.Length == 0 && open is not null)
            {
                // From the number that filed it, the open complaint's status needs no PIN.
                complaintId = open.Id;
                await Timeline.AppendAsync(connection, transaction, open.Id, TimelineActor.Worker, null, "status.checked",
                    new { channel = message.Channel, by = "sender" }, cancellationToken);
                Say("status", IvrPromptKeys.ForStatus(open.Status));
            }
            else
            {
                Say("status", IvrPromptKeys.SmsStatusPrompt);
            }
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE messages SET complaint_id = @complaintId WHERE id = @messageId",
                new { complaintId, messageId }, transaction, cancellationToken: cancellationToken));
            return IntakeOutcome.Status;
        }

        public async Task<IntakeOutcome> NewComplaintAsync(string commandLanguage)
        {
            language ??= commandLanguage;
            await OpenComplaintWithAsync(includeEarlier: false);
            return IntakeOutcome.ComplaintOpened;
        }

        public IntakeOutcome Empty()
        {
            if (language is null)
            {
                Menu();
                return IntakeOutcome.LanguageMenu;
            }
            Say("empty", IvrPromptKeys.SmsEmpty);
            return IntakeOutcome.Empty;
        }

        public async Task<IntakeOutcome> ComplaintTextAsync()
        {
            if (language is null)
            {
                var choice = flow.FindLanguageByDigit(message.Body.Trim());
                language = choice?.Code ?? MessageText.DetectLanguage(message.Body);
                if (language is null)
                {
                    Menu();
                    return IntakeOutcome.LanguageMenu;
                }
                if (choice is not null)
                {
                    // The digit only chose the language: the words the worker wrote before it open the complaint.
                    await connection.ExecuteAsync(new CommandDefinition(
                        "UPDATE messages SET purpose = 'language_choice' WHERE id = @messageId",
                        new { messageId }, transaction, cancellationToken: cancellationToken));
                }
                await OpenComplaintWithAsync(includeEarlier: true);
                return IntakeOutcome.ComplaintOpened;
            }

            // From a worker with no open complaint, an answer to a retaliation check-in joins (and on a
            // worrying answer reopens) the resolved complaint. (With an open one, an investigator is in touch.)
            if (open is null && await retaliationWatch.TryAnswerAsync(connection, transaction, identityId, message.Body, cancellationToken) is { } answered)
            {
                await AttachAsync(answered.ComplaintId, [messageId]);
                Say("checkin_answer", answered.Answer == CheckinAnswer.AllWell ? IvrPromptKeys.SmsCheckinThanks : IvrPromptKeys.SmsCheckinReopened);
                return IntakeOutcome.AddedToComplaint;
            }
            if (open is not null)
            {
                if (joined)
                {
                    complaintId = open.Id;
                    await Timeline.AppendAsync(connection, transaction, open.Id, TimelineActor.Worker, null, "message.received",
                        new { message_sid = message.MessageSid, channel = message.Channel, num_media = message.NumMedia }, cancellationToken);
                }
                else
                {
                    await AttachAsync(open.Id, [messageId]);
                }
                // "An investigator will contact you" until one has: after a staff reply the worker is in
                // a conversation with a person, and the automatic text would only interrupt it.
                if (!open.StaffReplied)
                {
                    Say("received", IvrPromptKeys.SmsReceived);
                }
                return IntakeOutcome.AddedToComplaint;
            }
            await OpenComplaintWithAsync(includeEarlier: false);
            return IntakeOutcome.ComplaintOpened;
        }

        /// <summary>
        /// One <c>message_media</c> row per attachment, for <see cref="MediaFetcher"/> to download. A type
        /// the hotline does not keep is refused here, from Twilio's MediaContentType, without
        /// downloading it, and the worker is told once per message, in their language.
        /// </summary>
        public async Task KeepMediaAsync(IReadOnlyList<InboundMedia> media, MessagingOptions options, PiiProtector pii)
        {
            if (media.Count == 0)
            {
                return;
            }
            var refused = media.Select(item => !options.AllowsMediaType(item.ContentType)).ToArray();
            var rows = await connection.QueryAsync<(long Id, short Position, string Status)>(new CommandDefinition("""
                INSERT INTO message_media (message_id, position, url_encrypted, declared_content_type, status, refused_reason)
                SELECT @messageId, m.position, m.url, m.content_type, m.status, m.reason
                FROM unnest(@positions, @urls, @types, @statuses, @reasons) AS m (position, url, content_type, status, reason)
                ON CONFLICT (message_id, position) DO NOTHING
                RETURNING id, position, status
                """,
                new
                {
                    messageId,
                    positions = Enumerable.Range(0, media.Count).Select(i => (short)i).ToArray(),
                    urls = media.Select(item => pii.Encrypt(item.Url, PiiPurpose.MediaUrl)).ToArray(),
                    types = media.Select(item => MessagingOptions.MediaType(item.ContentType)).ToArray(),
                    statuses = refused.Select(no => no ? "refused" : "pending").ToArray(),
                    reasons = refused.Select(no => no ? "type" : null).ToArray(),
                }, transaction, cancellationToken: cancellationToken));
            Work = Work with { Media = [.. rows.Where(row => row.Status == "pending").Select(row => row.Id)] };
            var refusedRows = rows.Where(row => row.Status == "refused").ToList();
            if (refusedRows.Count == 0)
            {
                return;
            }
            Say(MediaNotices.RefusedType, IvrPromptKeys.SmsMediaRefusedType);
            if (complaintId is { } complaint)
            {
                foreach (var row in refusedRows)
                {
                    await MediaNotices.RecordAsync(connection, transaction, complaint, ReplyLanguage, messageId, row.Id, "media.refused",
                        new { message_id = messageId, media_id = row.Id, reason = "type", content_type = MessagingOptions.MediaType(media[row.Position].ContentType) },
                        cancellationToken);
                }
            }
        }

        /// <summary>
        /// A text to a number the configuration does not name: a timeline entry on its complaint, for an
        /// admin to see (the dashboard counts the messages). The number itself is not written there.
        /// </summary>
        public Task FlagUnconfiguredNumberAsync() =>
            message.ToUnconfiguredNumber && complaintId is { } complaint
                ? Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.System, null, "message.unconfigured_number",
                    new { message_sid = message.MessageSid, message_id = messageId, channel = message.Channel }, cancellationToken)
                : Task.CompletedTask;

        /// <summary>Writes the queued replies; to a worker who opted out they are kept as 'suppressed', never sent.</summary>
        public async Task QueueRepliesAsync(PiiProtector pii)
        {
            if (language is not null && language != conversation.LanguageCode)
            {
                await connection.ExecuteAsync(new CommandDefinition("""
                    UPDATE conversations SET language_code = @language, state = 'open' WHERE id = @Id;
                    UPDATE caller_identities SET preferred_language = @language WHERE id = @identityId;
                    """, new { language, conversation.Id, identityId }, transaction, cancellationToken: cancellationToken));
            }
            var queued = await Replies.QueueAsync(connection, transaction, pii,
                new ReplyTarget(message.Channel, identityId, conversation.Id, complaintId, optedOut), replies, cancellationToken);
            Work = Work with { Replies = queued };
        }

        private string ReplyLanguage => language ?? flow.DefaultLanguage.Code;

        /// <summary>Tells the consoles of the language (ids only: they fetch the words through the API).</summary>
        public Task AnnounceAsync() =>
            ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.MessageReceived, Audience.Language(ReplyLanguage),
                complaintId, new { messageId, complaintId, channel = message.Channel, replies = replies.Count }, cancellationToken);

        private void Say(string purpose, string key, string? inLanguage = null) =>
            replies.Add(new Reply(purpose, flow.RenderText(inLanguage ?? ReplyLanguage, key)));

        // The menu lists every language in its own name, so it reads the same from any file.
        private void Menu() => replies.Add(new Reply("language_menu", flow.RenderText(flow.DefaultLanguage.Code, IvrPromptKeys.SmsLanguageMenu)));

        /// <summary>
        /// Opens a complaint with this message (and, after a language menu, the words written before
        /// the choice) and queues the welcome with the case number and PIN, told this once.
        /// </summary>
        private async Task OpenComplaintWithAsync(bool includeEarlier)
        {
            var opened = await Complaints.OpenAsync(connection, transaction, message.Channel, language!, identityId, cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE complaints SET pin_told_at = now() WHERE id = @Id", new { opened.Id }, transaction, cancellationToken: cancellationToken));
            var ids = includeEarlier
                ? (await connection.QueryAsync<long>(new CommandDefinition("""
                    SELECT id FROM messages
                    WHERE conversation_id = @conversationId AND direction = 'inbound' AND complaint_id IS NULL AND purpose = 'complaint'
                    ORDER BY id
                    """, new { conversationId = conversation.Id }, transaction, cancellationToken: cancellationToken))).ToList()
                : [messageId];
            await AttachAsync(opened.Id, ids.Count > 0 ? ids : [messageId]);
            var caseOpened = flow.RenderText(ReplyLanguage, IvrPromptKeys.SmsCaseOpened,
                new Dictionary<string, string> { [IvrPlaceholders.CaseNumber] = opened.CaseNumber, [IvrPlaceholders.Pin] = opened.Pin });
            // One text, so the notice and the numbers arrive together and in order.
            replies.Add(new Reply("case_opened", flow.RenderText(ReplyLanguage, IvrPromptKeys.SmsWelcome) + "\n\n" + caseOpened));
        }

        private async Task AttachAsync(long complaint, IReadOnlyList<long> ids)
        {
            complaintId = complaint;
            var attached = await connection.QueryAsync<(string MessageSid, int NumMedia)>(new CommandDefinition("""
                UPDATE messages SET complaint_id = @complaint, updated_at = now() WHERE id = ANY(@ids)
                RETURNING message_sid, num_media
                """, new { complaint, ids = ids.ToArray() }, transaction, cancellationToken: cancellationToken));
            foreach (var (sid, media) in attached)
            {
                await Timeline.AppendAsync(connection, transaction, complaint, TimelineActor.Worker, null, "message.received",
                    new { message_sid = sid, channel = message.Channel, num_media = media }, cancellationToken);
            }
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE complaints SET last_activity_at = now() WHERE id = @complaint",
                new { complaint }, transaction, cancellationToken: cancellationToken));
        }

        private async Task SetOptOutAsync(bool stop)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE conversations SET opted_out_at = CASE WHEN @stop THEN now() END WHERE id = @Id",
                new { stop, conversation.Id }, transaction, cancellationToken: cancellationToken));
            if (open is not null)
            {
                complaintId = open.Id;
                await Timeline.AppendAsync(connection, transaction, open.Id, TimelineActor.Worker, null,
                    stop ? "messaging.opted_out" : "messaging.opted_in", new { channel = message.Channel, message_sid = message.MessageSid }, cancellationToken);
            }
        }
    }
}
