namespace WsrHotline.Simulator;

/// <summary>
/// The JSON API behind the simulator page (<c>/simulator/api/</c>). Every POST takes a JSON body
/// (at least <c>{}</c>); anything else gets 415. Errors are ProblemDetails: 404 for an unknown call,
/// 409 when the call cannot do that now, 400 for bad input.
/// </summary>
internal static class SimulatorApi
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/state", async (string? call, VoiceSimulator simulator, CancellationToken cancellationToken) =>
        {
            // The app may have placed calls in the background (not inside a webhook): start them now.
            await simulator.AdvanceAsync(TimeSpan.Zero, cancellationToken);
            return TypedResults.Ok(StateView.Of(simulator, call));
        });

        api.MapPost("/calls", (StartCall body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () => (await simulator.CallAsync(body.From, string.IsNullOrWhiteSpace(body.To) ? null : body.To, cancellationToken)).Sid));

        api.MapPost("/calls/{sid}/press", (string sid, Press body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.PressAsync(body.Digits, cancellationToken)));
        api.MapPost("/calls/{sid}/silence", (string sid, Nothing body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.StaySilentAsync(cancellationToken)));
        api.MapPost("/calls/{sid}/record", (string sid, RecordMessage body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.RecordAsync(TimeSpan.FromSeconds(body.Seconds), body.ThenHangUp, cancellationToken)));
        api.MapPost("/calls/{sid}/wait", (string sid, Wait body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.WaitAsync(TimeSpan.FromSeconds(body.Seconds), cancellationToken)));
        api.MapPost("/calls/{sid}/hangup", (string sid, Nothing body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.HangUpAsync(cancellationToken)));
        api.MapPost("/calls/{sid}/say", (string sid, Speak body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            OnCallAsync(simulator, sid, call => call.SayAsync(body.Words, cancellationToken)));

        // Time passes with no call in particular (the page's Wait without a call, or its "time runs by itself").
        api.MapPost("/advance", (Wait body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.AdvanceAsync(TimeSpan.FromSeconds(Math.Clamp(body.Seconds, 0, 3600)), cancellationToken);
                return null;
            }));

        MapTexting(api);

        api.MapPut("/phones/{number}", (string number, SetPhone body, VoiceSimulator simulator) =>
        {
            if (!Enum.TryParse<PhoneMode>(body.Behavior.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var mode))
            {
                return Results.Problem("behavior must be answer, no-answer, busy or manual.", statusCode: StatusCodes.Status400BadRequest);
            }

            simulator.Phone(number).Behavior = new PhoneBehavior(mode, body.RingSeconds ?? 3, string.IsNullOrEmpty(body.Digits) ? null : body.Digits, body.HangUpAfterSeconds);
            return Results.Ok(StateView.Of(simulator, null));
        });
        api.MapPost("/phones/{number}/answer", (string number, Nothing body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.Phone(number).AnswerAsync(cancellationToken);
                return null;
            }));
        api.MapPost("/phones/{number}/decline", (string number, Nothing body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.Phone(number).DeclineAsync(cancellationToken);
                return null;
            }));
        api.MapPost("/phones/{number}/press", (string number, Press body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.Phone(number).PressAsync(body.Digits, cancellationToken);
                return null;
            }));
        api.MapPost("/phones/{number}/say", (string number, Speak body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.Phone(number).SayAsync(body.Words, cancellationToken);
                return null;
            }));
        api.MapPost("/phones/{number}/hangup", (string number, Nothing body, VoiceSimulator simulator, CancellationToken cancellationToken) =>
            ShowAfterAsync(simulator, async () =>
            {
                await simulator.Phone(number).HangUpAsync(cancellationToken);
                return null;
            }));
    }

    /// <summary>
    /// Texting: <c>POST /texts</c> sends a worker's text to the hotline, with an optional sample
    /// attachment (photo, voice-note, pdf, or a refused one: large-video, contact-card); <c>PUT /texts/{number}</c>
    /// sets what happens to the hotline's texts to that number (delivered, undelivered, failed, opted-out).
    /// </summary>
    public static void MapTexting(RouteGroupBuilder api)
    {
        api.MapPost("/texts", async (SendText body, VoiceSimulator simulator) =>
        {
            var attachment = body.Attachment switch
            {
                null or "" => null,
                "photo" => TextMedia.Photo(),
                "voice-note" => TextMedia.VoiceNote(),
                "pdf" => TextMedia.Pdf(),
                // Larger than the hotline's default limit (16 MB), and a type it does not keep.
                "large-video" => new TextMedia("video/mp4", new byte[17 * 1024 * 1024]),
                "contact-card" => new TextMedia("text/vcard", "BEGIN:VCARD\nEND:VCARD\n"u8.ToArray()),
                _ => new TextMedia("", ReadOnlyMemory<byte>.Empty),
            };
            if (attachment is { ContentType: "" })
            {
                return Results.Problem("attachment must be photo, voice-note, pdf, large-video or contact-card.", statusCode: StatusCodes.Status400BadRequest);
            }

            if (string.IsNullOrWhiteSpace(body.From) || (string.IsNullOrEmpty(body.Body) && attachment is null))
            {
                return Results.Problem("from and a body or an attachment are required.", statusCode: StatusCodes.Status400BadRequest);
            }

            if (body.Channel is not (TextChannels.Sms or TextChannels.WhatsApp))
            {
                return Results.Problem("channel must be sms or whatsapp.", statusCode: StatusCodes.Status400BadRequest);
            }

            await simulator.TextAsync(body.From.Trim(), body.Body ?? "", body.Channel, textMedia: attachment is null ? null : [attachment]);
            return Results.Ok(StateView.Of(simulator, null));
        });

        api.MapPut("/texts/{number}", (string number, SetTextDelivery body, VoiceSimulator simulator) =>
        {
            if (!Enum.TryParse<TextOutcome>(body.Outcome.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var outcome))
            {
                return Results.Problem("outcome must be delivered, undelivered, failed or opted-out.", statusCode: StatusCodes.Status400BadRequest);
            }

            simulator.SetTextDelivery(number, outcome switch
            {
                TextOutcome.Undelivered => TextDelivery.Undelivered(body.ErrorCode ?? 30003),
                TextOutcome.Failed => TextDelivery.Failed(body.ErrorCode ?? 30008),
                TextOutcome.OptedOut => TextDelivery.OptedOut,
                _ => TextDelivery.Delivered,
            });
            return Results.Ok(StateView.Of(simulator, null));
        });
    }

    private static Task<IResult> OnCallAsync(VoiceSimulator simulator, string sid, Func<SimulatedCall, Task> action) =>
        simulator.FindCall(sid) is { } call
            ? ShowAfterAsync(simulator, async () =>
            {
                await action(call);
                return sid;
            })
            : Task.FromResult(Results.Problem("No simulated call has this sid.", statusCode: StatusCodes.Status404NotFound));

    /// <summary>Runs a person's action; answers with the new state, or a problem when the engine refused it.</summary>
    private static async Task<IResult> ShowAfterAsync(VoiceSimulator simulator, Func<Task<string?>> action)
    {
        try
        {
            var sid = await action();
            return Results.Ok(StateView.Of(simulator, sid));
        }
        catch (ArgumentException exception)
        {
            return Results.Problem(exception.Message, statusCode: StatusCodes.Status400BadRequest);
        }
        catch (InvalidOperationException exception)
        {
            return Results.Problem(exception.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    internal sealed record StartCall(string From, string? To);

    internal sealed record Press(string Digits);

    internal sealed record RecordMessage(double Seconds, bool ThenHangUp);

    internal sealed record Wait(double Seconds);

    internal sealed record Speak(string Words);

    internal sealed record SendText(string From, string? Body, string Channel = TextChannels.Sms, string? Attachment = null);

    internal sealed record SetTextDelivery(string Outcome, int? ErrorCode);

    internal sealed record SetPhone(string Behavior, string? Digits, int? RingSeconds, int? HangUpAfterSeconds);

    /// <summary>The body of actions that need none: <c>{}</c> (a JSON body keeps cross-site form posts out).</summary>
    internal sealed record Nothing;
}

/// <summary>What the page shows: the clock, one call in detail, every leg in short, the phones and the open conferences.</summary>
internal sealed record StateView(
    double Now, CallView? Call, IReadOnlyList<CallView> Legs, IReadOnlyList<PhoneView> Phones, IReadOnlyList<TextThreadView> Texts,
    IReadOnlyList<ConferenceView> Conferences)
{
    public static StateView Of(VoiceSimulator simulator, string? sid) => new(
        simulator.Now.TotalSeconds,
        sid is not null && simulator.FindCall(sid) is { } call ? CallView.Of(call, withTranscript: true) : null,
        [.. simulator.Calls.Select(c => CallView.Of(c, withTranscript: false))],
        [.. simulator.Phones.Select(PhoneView.Of)],
        [.. simulator.TextThreads.Select(t => TextThreadView.Of(simulator, t))],
        [.. simulator.Conferences.Where(c => c.Status != "completed").Select(ConferenceView.Of)]);
}

/// <summary>A conference not yet ended, with its participants and their flags.</summary>
internal sealed record ConferenceView(string Sid, string FriendlyName, string Status, IReadOnlyList<ParticipantView> Participants)
{
    public static ConferenceView Of(SimulatedConference conference) => new(
        conference.Sid, conference.FriendlyName, conference.Status, [.. conference.Participants.Select(ParticipantView.Of)]);
}

internal sealed record ParticipantView(
    string CallSid, string From, string To, string Direction, string? Label, string Status, bool Muted, bool Hold, bool Coaching, string? CallSidToCoach)
{
    public static ParticipantView Of(ConferenceParticipant p) => new(
        p.Call.Sid, p.Call.From, p.Call.To, p.Call.Direction, p.Label, p.Status, p.Muted, p.Hold, p.Coaching, p.CallSidToCoach);
}

/// <summary>A worker's phone on one channel, as the texting panel shows it, with what happens to texts sent to it.</summary>
internal sealed record TextThreadView(string Number, string Channel, string Delivery, IReadOnlyList<TextView> Texts)
{
    public static TextThreadView Of(VoiceSimulator simulator, TextThread thread) => new(
        thread.Number,
        thread.Channel,
        simulator.TextDeliveryFor(thread.Number).Outcome switch { TextOutcome.OptedOut => "opted-out", var outcome => outcome.ToString().ToLowerInvariant() },
        [.. thread.Texts.Select(t => new TextView(t.Sid, t.FromPhone, t.Body, t.At, t.Status, t.ErrorCode, t.MediaCount))]);
}

internal sealed record TextView(string Sid, bool FromPhone, string Body, DateTimeOffset At, string Status, int? ErrorCode, int MediaCount);

internal sealed record CallView(
    string Sid, string From, string To, string Direction, string State, string Status, bool NeedsHuman, string? Queue,
    IReadOnlyList<CallEvent>? Transcript, string? Conference, bool Muted, bool Hold, bool Coaching)
{
    public static CallView Of(SimulatedCall call, bool withTranscript)
    {
        var participant = call.Participant;
        return new(
            call.Sid, call.From, call.To, call.Direction, call.State.ToString(), call.Status, call.NeedsHuman, call.QueueName,
            withTranscript ? call.Transcript : null,
            participant?.Conference.FriendlyName, participant?.Muted ?? false, participant?.Hold ?? false, participant?.Coaching ?? false);
    }
}

internal sealed record PhoneView(string Number, string Behavior, string? Digits, int RingSeconds, CallView? Call, IReadOnlyList<string> Heard)
{
    public static PhoneView Of(SimulatedPhone phone) => new(
        phone.Number,
        phone.Behavior.Mode switch { PhoneMode.NoAnswer => "no-answer", var mode => mode.ToString().ToLowerInvariant() },
        phone.Behavior.PressDigits,
        phone.Behavior.RingSeconds,
        phone.CurrentCall is { } call ? CallView.Of(call, withTranscript: false) : null,
        phone.Heard);
}
