using System.Globalization;
using System.Xml.Linq;

namespace WsrHotline.Simulator;

/// <summary>Ringing phones: &lt;Dial&gt;&lt;Number&gt;, calls placed through the REST stand-in, and bridges.</summary>
internal sealed partial class LegRunner
{
    // Set on legs opened by a parent's <Dial>.
    private DialAttempt? attempt;
    private SimulatedCall? parent;
    private Fetch? screening;

    private enum RingResult
    {
        Answered,
        Busy,
        NoAnswer,
        Canceled,
    }

    /// <summary>Starts a call the app placed with POST Calls.json (registered already by the REST stand-in).</summary>
    public static void StartOutbound(VoiceSimulator simulator, SimulatedCall call, OutboundRequest request)
    {
        var runner = new LegRunner(simulator, call)
        {
            statusCallbacks = request.StatusCallback is { } url
                ? new StatusCallbacks(url, request.StatusCallbackMethod, request.StatusCallbackEvents.Count == 0 ? ["completed"] : request.StatusCallbackEvents)
                : null,
        };
        simulator.Time.Start(() => runner.RunOutboundApiAsync(request), exception => simulator.Fault(call, exception));
    }

    private async Task RunOutboundApiAsync(OutboundRequest request)
    {
        await SendStatusAsync("initiated");
        if (request.Join is { } joining)
        {
            joining.Status = "ringing";
        }

        var ring = await RingAsync(TimeSpan.FromSeconds(request.TimeoutSeconds));
        if (ring != RingResult.Answered)
        {
            if (request.Join is { } unanswered)
            {
                call.ConferenceChanged = false;
                unanswered.Conference.Leave(unanswered, kicked: false, Now, simulator.UtcAt(Now));
                simulator.SendConferenceEvents(unanswered.Conference);
            }

            await FinishAsync(RingStatus(ring), call.PendingHangUpBy ?? "callee");
            return;
        }

        await AnswerAsync();
        if (request.Join is { } participant)
        {
            // A participant added through the REST API joins when it answers: no TwiML is fetched.
            if (call.PendingRedirect is null && call.PendingHangUpBy is null && !participant.Removed)
            {
                await InConferenceAsync(participant, timeLimit: null);
            }
            else
            {
                call.ConferenceChanged = false;
                participant.Conference.Leave(participant, kicked: false, Now, simulator.UtcAt(Now));
                simulator.SendConferenceEvents(participant.Conference);
            }

            if (TakeRedirect() is { } moved)
            {
                await FinishAsync(await RunTwimlAsync(moved, null, Context.Main));
                return;
            }

            await FinishAsync("completed", call.PendingHangUpBy ?? "twiml");
            return;
        }

        // A REST update that arrived while the phone rang replaces the call's TwiML.
        var first = TakeRedirect()
            ?? (request.Twiml is { } twiml ? Fetch.Inline(twiml, "url") : new Fetch(request.Url!, request.Method, "url", []));
        var end = await RunTwimlAsync(first, null, Context.Main);
        await FinishAsync(end);
    }

    private async Task RunDialedLegAsync()
    {
        await SendStatusAsync("initiated");
        var ring = await RingAsync(giveUpAfter: null); // the parent's <Dial timeout> decides
        if (ring != RingResult.Answered)
        {
            var status = RingStatus(ring);
            await FinishAsync(status, call.PendingHangUpBy ?? "callee");
            Report(status);
            return;
        }

        await AnswerAsync();
        if (screening is { } fetch)
        {
            // The answering phone hears the screening TwiML while the caller still hears ringing.
            lock (attempt!)
            {
                attempt.Screening++;
            }

            var end = await RunTwimlAsync(fetch, null, Context.Screening);
            lock (attempt)
            {
                attempt.Screening--;
            }

            if (end.Kind != Kind.DocumentEnded)
            {
                await FinishAsync(end);
                Report("declined");
                return;
            }
        }

        bool won;
        lock (attempt!)
        {
            won = attempt.Winner is null && !attempt.Closed;
            if (won)
            {
                attempt.Winner = call;
            }
        }

        if (!won)
        {
            await FinishAsync("completed", "answered-elsewhere");
            Report("canceled");
            return;
        }

        call.State = CallState.Running;
        Time.Signal(parent!.Mailbox);
        await StayBridgedAsync(timeLimit: null);
        await FinishAsync("completed", call.PendingHangUpBy ?? "peer");
    }

    private void Report(string result)
    {
        lock (attempt!)
        {
            attempt.Results[call.Sid] = result;
        }

        Time.Signal(parent!.Mailbox);
    }

    private string RingStatus(RingResult ring) => ring switch
    {
        RingResult.Busy => "busy",
        RingResult.NoAnswer => "no-answer",
        _ => call.PendingHangUpBy == "dial-timeout" ? "no-answer" : "canceled",
    };

    /// <summary>Rings the simulated phone with this leg's number (a number without one never answers).</summary>
    private async Task<RingResult> RingAsync(TimeSpan? giveUpAfter)
    {
        var behavior = call.Phone?.Behavior ?? PhoneBehavior.NoAnswer;
        if (behavior.Mode == PhoneMode.Busy)
        {
            return RingResult.Busy;
        }

        call.Status = "ringing";
        call.State = CallState.Ringing;
        call.Add(new Ringing(Now));
        await SendStatusAsync("ringing");

        switch (behavior.Mode)
        {
            case PhoneMode.Manual:
                return await AwaitPersonAsync(CallState.Ringing, giveUpAfter) switch
                {
                    PersonInput.Answer => RingResult.Answered,
                    PersonInput.Decline => RingResult.Busy,
                    PersonInput.Timeout => RingResult.NoAnswer,
                    _ => RingResult.Canceled,
                };

            case PhoneMode.Answer:
                var ringFor = TimeSpan.FromSeconds(behavior.RingSeconds);
                if (giveUpAfter < ringFor)
                {
                    return await PassTimeAsync(giveUpAfter) ? RingResult.NoAnswer : RingResult.Canceled;
                }

                return await PassTimeAsync(ringFor) ? RingResult.Answered : RingResult.Canceled;

            default:
                return await PassTimeAsync(giveUpAfter) ? RingResult.NoAnswer : RingResult.Canceled;
        }
    }

    private async Task AnswerAsync()
    {
        call.Status = "in-progress";
        call.State = CallState.Running;
        call.AnsweredAt = Now;
        call.Add(new Answered(Now));
        await SendStatusAsync("answered");

        if (call.Phone?.Behavior.HangUpAfterSeconds is { } seconds)
        {
            Time.Schedule(TimeSpan.FromSeconds(seconds), () =>
            {
                if (call.State != CallState.Completed)
                {
                    call.PendingHangUpBy ??= "callee";
                    Time.Signal(call.Mailbox);
                }
            });
        }
    }

    // ---------------------------------------------------------------- <Dial>

    private async Task<Outcome> DialAsync(XElement dial)
    {
        var action = ResolveAttribute(dial, "action");
        var method = Method(dial, "method");
        var timeout = TimeSpan.FromSeconds(IntAttribute(dial, "timeout") ?? 30);
        var timeLimit = TimeSpan.FromSeconds(IntAttribute(dial, "timeLimit") ?? 14400);
        var callerId = Attribute(dial, "callerId") ?? call.From;

        var nouns = dial.Elements().ToList();
        if (nouns.Count == 0 && dial.Value.Trim().Length > 0)
        {
            nouns.Add(new XElement("Number", dial.Value.Trim())); // <Dial>+15555550111</Dial>
        }

        if (nouns.FirstOrDefault(n => n.Name.LocalName == "Queue") is { } queue)
        {
            return await DialQueueAsync(queue, action, method, timeout, timeLimit);
        }

        if (nouns.FirstOrDefault(n => n.Name.LocalName == "Conference") is { } conference)
        {
            return await DialConferenceAsync(conference, action, method, timeLimit);
        }

        if (nouns.FirstOrDefault(n => n.Name.LocalName != "Number") is { } unsupported)
        {
            call.Add(new ApplicationError(Now, 12200, $"<Dial><{unsupported.Name.LocalName}> is not supported by the simulator.", documentUrl, null));
            return Outcome.Error;
        }

        var (status, leg, duration) = await DialNumbersAsync(nouns.Take(10).ToList(), timeout, timeLimit, callerId);
        return await AfterDialAsync(action, method, status, leg, duration, []);
    }

    /// <summary>Rings every number at once; the first to answer (and accept any screening) is connected.</summary>
    private async Task<(string Status, SimulatedCall? Leg, int Duration)> DialNumbersAsync(
        List<XElement> numbers, TimeSpan timeout, TimeSpan timeLimit, string callerId)
    {
        var dialing = new DialAttempt();
        call.State = CallState.Dialing;
        call.Add(new Dialed(Now, [.. numbers.Select(n => n.Value.Trim())]));
        foreach (var number in numbers)
        {
            var to = number.Value.Trim();
            var leg = simulator.NewCall(callerId, to, "outbound-dial", simulator.PhoneFor(to), call.Sid);
            leg.State = CallState.Ringing;
            var runner = new LegRunner(simulator, leg)
            {
                attempt = dialing,
                parent = call,
                documentUrl = documentUrl,
                screening = ResolveAttribute(number, "url") is { } url ? new Fetch(url, Method(number, "method"), "screening", []) : null,
                statusCallbacks = ResolveAttribute(number, "statusCallback") is { } callback
                    ? new StatusCallbacks(callback, Method(number, "statusCallbackMethod"),
                        (Attribute(number, "statusCallbackEvent") ?? "completed").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    : null,
            };
            lock (dialing)
            {
                dialing.Legs.Add(leg);
            }

            Time.Start(runner.RunDialedLegAsync, exception => simulator.Fault(leg, exception));
        }

        var deadline = Now + timeout;
        SimulatedCall? winner;
        string? failure = null;
        while (true)
        {
            bool allDone;
            lock (dialing)
            {
                winner = dialing.Winner;
                allDone = dialing.Results.Count == dialing.Legs.Count;
            }

            if (winner is not null)
            {
                break;
            }

            if (call.Interrupted)
            {
                failure = "canceled";
                break;
            }

            if (allDone)
            {
                failure = Summarize(dialing);
                break;
            }

            if (Now >= deadline)
            {
                // Phones still ringing give up; one already in its screening may still accept.
                Cancel(dialing, except: null, onlyRinging: true, "dial-timeout");
            }

            await Time.BlockAsync(call.Mailbox, Now >= deadline ? null : deadline - Now);
        }

        lock (dialing)
        {
            dialing.Closed = true;
        }

        Cancel(dialing, except: winner, onlyRinging: false, winner is null ? "dial-canceled" : "answered-elsewhere");
        if (winner is null)
        {
            return (failure!, null, 0);
        }

        Connect(call, winner);
        var start = Now;
        await StayBridgedAsync(timeLimit);
        var duration = Seconds(Now - start);
        LeaveBridge();
        return ("completed", winner, duration);
    }

    private static string Summarize(DialAttempt dialing)
    {
        var results = dialing.Results.Values.ToList();
        return results.Count > 0 && results.All(r => r == "busy") ? "busy"
            : results.Any(r => r == "failed") ? "failed"
            : "no-answer";
    }

    private void Cancel(DialAttempt dialing, SimulatedCall? except, bool onlyRinging, string reason)
    {
        List<SimulatedCall> legs;
        lock (dialing)
        {
            legs = [.. dialing.Legs.Where(leg => leg != except && !dialing.Results.ContainsKey(leg.Sid))];
        }

        foreach (var leg in legs.Where(leg => !onlyRinging || leg.State == CallState.Ringing))
        {
            if (leg.PendingHangUpBy is null)
            {
                leg.PendingHangUpBy = reason;
                Time.Signal(leg.Mailbox);
            }
        }
    }

    private async Task<Outcome> AfterDialAsync(
        Uri? action, string method, string status, SimulatedCall? leg, int duration, IEnumerable<KeyValuePair<string, string>> extra)
    {
        call.Add(new DialEnded(Now, status, leg?.Sid, duration));
        RestoreState();
        if (action is null)
        {
            return call.Interrupted ? Outcome.Interrupted : Outcome.Continue;
        }

        List<KeyValuePair<string, string>> parameters = [new("DialCallStatus", status)];
        if (leg is not null)
        {
            parameters.Add(new("DialCallSid", leg.Sid));
            parameters.Add(new("DialCallDuration", duration.ToString(CultureInfo.InvariantCulture)));
        }

        parameters.AddRange(extra);
        var fetch = new Fetch(action, method, "dial-action", parameters);
        if (call.PendingHangUpBy is not null)
        {
            call.Status = "completed";
            await FetchDocumentIgnoringAsync(fetch);
            return Outcome.Interrupted;
        }

        // A REST redirect during the Dial wins over its action.
        return call.PendingRedirect is not null ? Outcome.Interrupted : Outcome.Goto(fetch);
    }

    // ---------------------------------------------------------------- bridges

    private void Connect(SimulatedCall a, SimulatedCall b)
    {
        a.Peer = b;
        b.Peer = a;
        a.State = CallState.Bridged;
        b.State = CallState.Bridged;
        a.Add(new Bridged(Now, b.Sid));
        b.Add(new Bridged(Now, a.Sid));
        Time.Signal(b.Mailbox);
    }

    /// <summary>Stays connected until this leg hangs up, the other leaves, a redirect, or the time limit.</summary>
    private async Task StayBridgedAsync(TimeSpan? timeLimit)
    {
        var end = Now + timeLimit;
        while (true)
        {
            if (call.PendingHangUpBy is not null || call.PendingRedirect is not null)
            {
                return;
            }

            if (call.PeerLeft)
            {
                call.PeerLeft = false;
                if (call.Peer is { } peer)
                {
                    call.Peer = null;
                    call.Add(new Unbridged(Now, peer.Sid));
                }

                return;
            }

            if (await Time.BlockAsync(call.Mailbox, end - Now))
            {
                return; // <Dial timeLimit> reached
            }
        }
    }

    /// <summary>This leg leaves its bridge: the other side notices.</summary>
    private void LeaveBridge()
    {
        if (call.Peer is not { } peer)
        {
            return;
        }

        call.Peer = null;
        call.Add(new Unbridged(Now, peer.Sid));
        peer.PeerLeft = true;
        Time.Signal(peer.Mailbox);
    }

    /// <summary>The legs of one &lt;Dial&gt; and how each ended; locked by whoever touches it.</summary>
    private sealed class DialAttempt
    {
        public List<SimulatedCall> Legs { get; } = [];

        public Dictionary<string, string> Results { get; } = new(StringComparer.Ordinal);

        public SimulatedCall? Winner { get; set; }

        /// <summary>The parent stopped waiting: a late acceptor is hung up.</summary>
        public bool Closed { get; set; }

        public int Screening { get; set; }
    }
}

/// <summary>A call the app placed with POST Calls.json.</summary>
internal sealed class OutboundRequest
{
    public Uri? Url { get; init; }

    public string Method { get; init; } = "POST";

    public string? Twiml { get; init; }

    public Uri? StatusCallback { get; init; }

    public string StatusCallbackMethod { get; init; } = "POST";

    public IReadOnlyList<string> StatusCallbackEvents { get; init; } = [];

    public int TimeoutSeconds { get; init; } = 60;

    /// <summary>A participant added with POST Conferences/{Sid}/Participants.json: joins the room when answered.</summary>
    public ConferenceParticipant? Join { get; set; }
}
