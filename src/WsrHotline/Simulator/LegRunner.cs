using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace WsrHotline.Simulator;

/// <summary>
/// Runs one call leg's TwiML the way Twilio does, as a coroutine on <see cref="VirtualTime"/>: fetch a
/// document, execute its verbs in order, follow action and Redirect URLs, block while time passes or a
/// person must act. Verbs for queues and dialling are in the other parts of this class.
/// </summary>
internal sealed partial class LegRunner(VoiceSimulator simulator, SimulatedCall call)
{
    /// <summary>What Twilio's text-to-speech is assumed to read per second (to advance virtual time).</summary>
    private const double SpokenCharactersPerSecond = 15;

    /// <summary>Documents fetched in a row without any time passing before the simulator calls it a loop.</summary>
    private const int MaxDocumentsWithoutTime = 50;

    private const string ApplicationErrorMessage = "We are sorry, an application error has occurred. Goodbye.";

    private static readonly XmlReaderSettings SafeXml = new() { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };

    /// <summary>The URL of the document being executed: relative URLs resolve against it.</summary>
    private Uri documentUrl = simulator.Webhooks.AppUrl("/");

    private int documentsWithoutTime;
    private TimeSpan lastDocumentAt = TimeSpan.MinValue;

    /// <summary>Sent after the next document fetch: Twilio posts recording status once the action has run.</summary>
    private Func<Task>? afterNextFetch;

    private StatusCallbacks? statusCallbacks;

    private VirtualTime Time => simulator.Time;

    private TimeSpan Now => simulator.Time.Now;

    private enum Kind
    {
        /// <summary>Go on with the next verb.</summary>
        Continue,

        /// <summary>Fetch <see cref="Outcome.Next"/> and run it instead (action, Redirect).</summary>
        Goto,

        /// <summary>The document ran out of verbs.</summary>
        DocumentEnded,

        /// <summary>&lt;Hangup&gt;.</summary>
        HangUp,

        /// <summary>&lt;Reject&gt;.</summary>
        Reject,

        /// <summary>&lt;Leave&gt; in a waitUrl document.</summary>
        Leave,

        /// <summary>The party hung up, or the leg was redirected or dequeued: see the call's pending fields.</summary>
        Interrupted,

        /// <summary>An application error ended the TwiML.</summary>
        Error,
    }

    /// <summary>Where a document runs; each allows other verbs (Twilio's rules).</summary>
    private enum Context
    {
        Main,

        /// <summary>A &lt;Number url&gt; document on the answering phone before it is connected.</summary>
        Screening,

        /// <summary>An &lt;Enqueue waitUrl&gt; document.</summary>
        Wait,

        /// <summary>A &lt;Queue url&gt; document played to the dequeued caller.</summary>
        QueueUrl,

        /// <summary>A conference's waitUrl, or a participant's HoldUrl.</summary>
        ConferenceMusic,
    }

    private readonly record struct Outcome(Kind Kind, Fetch? Next = null, string? Detail = null)
    {
        public static Outcome Continue => new(Kind.Continue);

        public static Outcome Interrupted => new(Kind.Interrupted);

        public static Outcome Error => new(Kind.Error);

        public static Outcome Goto(Fetch next) => new(Kind.Goto, next);
    }

    // ---------------------------------------------------------------- the three kinds of leg

    /// <summary>A worker's call to the toll-free number.</summary>
    public async Task RunInboundAsync()
    {
        statusCallbacks = simulator.Settings.StatusCallbackUrl is { } url
            ? new StatusCallbacks(simulator.Webhooks.AppUrl(url), "POST", ["completed"])
            : null;
        var fallback = simulator.Settings.FallbackUrl is { } fallbackUrl ? simulator.Webhooks.AppUrl(fallbackUrl) : null;
        var first = new Fetch(simulator.Webhooks.AppUrl(simulator.Settings.VoiceUrl), "POST", "voice", []);

        var end = await RunTwimlAsync(first, fallback, Context.Main);
        await FinishAsync(end);
    }

    // ---------------------------------------------------------------- documents

    /// <summary>Fetches and runs documents until one ends without a Redirect, or the leg is interrupted.</summary>
    private async Task<Outcome> RunTwimlAsync(Fetch first, Uri? fallbackUrl, Context context)
    {
        var next = first;
        while (true)
        {
            if (call.PendingHangUpBy is not null)
            {
                return Outcome.Interrupted;
            }

            var document = await FetchDocumentAsync(next, fallbackUrl);
            fallbackUrl = null;
            if (document is null || !NotLooping())
            {
                return Outcome.Error;
            }

            var outcome = await ExecuteAsync(document.Elements(), context);
            if (outcome.Kind == Kind.Interrupted && TakeRedirect() is { } redirect)
            {
                outcome = Outcome.Goto(redirect);
            }

            if (outcome.Kind != Kind.Goto)
            {
                return outcome;
            }

            next = outcome.Next!;
        }
    }

    /// <summary>Requests TwiML and parses it; null (after recording the error Twilio would report) when that fails.</summary>
    private async Task<XElement?> FetchDocumentAsync(Fetch fetch, Uri? fallbackUrl)
    {
        XElement? document;
        if (fetch.Twiml is { } inline)
        {
            document = Parse(inline, null);
        }
        else
        {
            var url = fetch.Url!;
            var (status, body) = await PostAsync(url, fetch.Method, fetch.Parameters, fetch.Purpose);
            document = status is >= 200 and <= 299 ? Parse(body, url) : null;
            if (document is null && status is < 200 or > 299)
            {
                call.Add(new ApplicationError(Now, 11200, $"HTTP retrieval failure: {(status == 0 ? "no response" : $"HTTP {status}")}", url, status));
            }

            if (document is null && fallbackUrl is not null)
            {
                // The number's "Primary handler fails" URL gets the error and the URL that failed.
                var (fallbackStatus, fallbackBody) = await PostAsync(fallbackUrl, "POST", [new("ErrorCode", "11200"), new("ErrorUrl", url.AbsoluteUri)], "fallback");
                document = fallbackStatus is >= 200 and <= 299 ? Parse(fallbackBody, fallbackUrl) : null;
                url = fallbackUrl;
            }

            if (document is not null)
            {
                documentUrl = url;
            }
        }

        if (afterNextFetch is { } deferred)
        {
            afterNextFetch = null;
            await deferred();
        }

        if (document is null)
        {
            call.Add(new Said(Now, ApplicationErrorMessage, null, "en-US"));
        }

        return document;
    }

    private XElement? Parse(string body, Uri? url)
    {
        try
        {
            using var reader = XmlReader.Create(new StringReader(body), SafeXml);
            var root = XDocument.Load(reader).Root;
            if (root?.Name.LocalName == "Response")
            {
                return root;
            }

            call.Add(new ApplicationError(Now, 12100, "Document parse failure: the root element is not <Response>.", url, null));
        }
        catch (XmlException exception)
        {
            call.Add(new ApplicationError(Now, 12100, "Document parse failure: " + exception.Message, url, null));
        }

        return null;
    }

    /// <summary>Twilio refuses endless Redirect loops; here: too many documents without any time passing.</summary>
    private bool NotLooping()
    {
        documentsWithoutTime = Now == lastDocumentAt ? documentsWithoutTime + 1 : 0;
        lastDocumentAt = Now;
        if (documentsWithoutTime < MaxDocumentsWithoutTime)
        {
            return true;
        }

        call.Add(new ApplicationError(Now, 12400, $"{MaxDocumentsWithoutTime} TwiML documents in a row without any time passing: a Redirect loop.", documentUrl, null));
        return false;
    }

    private async Task<Outcome> ExecuteAsync(IEnumerable<XElement> verbs, Context context)
    {
        foreach (var verb in verbs)
        {
            if (call.Interrupted)
            {
                return Outcome.Interrupted;
            }

            var name = verb.Name.LocalName;
            if (!Allowed(name, context))
            {
                call.Add(new ApplicationError(Now, 12200, $"<{name}> is not supported {DescribeContext(context)}.", documentUrl, null));
                return Outcome.Error;
            }

            var outcome = name switch
            {
                "Say" => await SayAsync(verb),
                "Play" => await PlayAsync(verb),
                "Pause" => await PauseAsync(verb),
                "Gather" => await GatherAsync(verb),
                "Record" => await RecordAsync(verb),
                "Redirect" => Redirect(verb),
                "Hangup" => new Outcome(Kind.HangUp),
                "Reject" => Reject(verb),
                "Leave" => new Outcome(Kind.Leave),
                "Enqueue" => await EnqueueAsync(verb),
                "Dial" => await DialAsync(verb),
                _ => Outcome.Error,
            };

            if (outcome.Kind != Kind.Continue)
            {
                return outcome;
            }
        }

        return call.Interrupted ? Outcome.Interrupted : new Outcome(Kind.DocumentEnded);
    }

    private static bool Allowed(string verb, Context context) => context switch
    {
        Context.Main => verb is "Say" or "Play" or "Pause" or "Gather" or "Record" or "Redirect" or "Hangup" or "Reject" or "Enqueue" or "Dial" or "Leave",
        Context.Screening => verb is "Say" or "Play" or "Pause" or "Gather" or "Record" or "Redirect" or "Hangup",
        Context.Wait => verb is "Say" or "Play" or "Pause" or "Gather" or "Redirect" or "Hangup" or "Leave",
        Context.QueueUrl or Context.ConferenceMusic => verb is "Say" or "Play" or "Pause" or "Redirect",
        _ => false,
    };

    private static string DescribeContext(Context context) => context switch
    {
        Context.Screening => "in a <Number url> (screening) document",
        Context.Wait => "in an <Enqueue waitUrl> document",
        Context.QueueUrl => "in a <Queue url> document",
        Context.ConferenceMusic => "in a conference's waitUrl or hold document",
        _ => "by the simulator",
    };

    // ---------------------------------------------------------------- verbs that play

    private async Task<Outcome> SayAsync(XElement say)
    {
        var text = say.Value.Trim();
        var loop = IntAttribute(say, "loop") ?? 1;
        var length = TimeSpan.FromSeconds(Math.Round(Math.Max(1, text.Length / SpokenCharactersPerSecond), 1));
        for (var i = 0; loop == 0 || i < loop; i++)
        {
            call.Add(new Said(Now, text, Attribute(say, "voice"), Attribute(say, "language")));
            if (!await PassTimeAsync(length))
            {
                return Outcome.Interrupted;
            }
        }

        return Outcome.Continue;
    }

    private async Task<Outcome> PlayAsync(XElement play)
    {
        var loop = IntAttribute(play, "loop") ?? 1;
        if (Attribute(play, "digits") is { } tones)
        {
            // DTMF tones sent down the line: nothing a person "hears" as a prompt.
            return await PassTimeAsync(TimeSpan.FromSeconds(0.5 * tones.Length)) ? Outcome.Continue : Outcome.Interrupted;
        }

        var url = Resolve(play.Value.Trim());
        var (status, length) = await simulator.Webhooks.FetchAudioAsync(url);
        if (status is { } code and (< 200 or > 299))
        {
            // Twilio reports the failed fetch and goes on with the next verb: the caller hears nothing.
            call.Add(new ApplicationError(Now, 11200, $"<Play> could not fetch its audio ({(code == 0 ? "no response" : $"HTTP {code}")}).", url, code));
            call.Add(new Played(Now, url, code));
            return Outcome.Continue;
        }

        for (var i = 0; loop == 0 || i < loop; i++)
        {
            call.Add(new Played(Now, url, status));
            if (!await PassTimeAsync(length))
            {
                return Outcome.Interrupted;
            }
        }

        return Outcome.Continue;
    }

    private async Task<Outcome> PauseAsync(XElement pause)
    {
        var seconds = IntAttribute(pause, "length") ?? 1;
        call.Add(new Paused(Now, seconds));
        return await PassTimeAsync(TimeSpan.FromSeconds(seconds)) ? Outcome.Continue : Outcome.Interrupted;
    }

    private Outcome Redirect(XElement redirect)
    {
        var url = Resolve(redirect.Value.Trim());
        call.Add(new Redirected(Now, url));
        return Outcome.Goto(new Fetch(url, Method(redirect, "method"), "redirect", []));
    }

    private Outcome Reject(XElement reject)
    {
        var reason = Attribute(reject, "reason") ?? "rejected";
        call.Add(new Rejected(Now, reason));
        return new Outcome(Kind.Reject, Detail: reason);
    }

    // ---------------------------------------------------------------- Gather

    private async Task<Outcome> GatherAsync(XElement gather)
    {
        var action = ResolveAttribute(gather, "action") ?? documentUrl;
        var method = Method(gather, "method");
        var timeout = TimeSpan.FromSeconds(IntAttribute(gather, "timeout") ?? 5);
        var numDigits = IntAttribute(gather, "numDigits");
        var finishOnKey = Attribute(gather, "finishOnKey") ?? "#";
        var actionOnEmptyResult = string.Equals(Attribute(gather, "actionOnEmptyResult"), "true", StringComparison.OrdinalIgnoreCase);

        // Nested Say/Play/Pause are the prompt, heard before the caller is expected to type.
        foreach (var prompt in gather.Elements())
        {
            var outcome = prompt.Name.LocalName switch
            {
                "Say" => await SayAsync(prompt),
                "Play" => await PlayAsync(prompt),
                "Pause" => await PauseAsync(prompt),
                _ => NotAllowedInGather(prompt),
            };
            if (outcome.Kind != Kind.Continue)
            {
                return outcome;
            }
        }

        call.Add(new GatherStarted(Now, numDigits, (int)timeout.TotalSeconds, finishOnKey, action));
        var digits = "";
        string? finishedOnKey = null;
        var automaticDigits = AutomaticPhone?.PressDigits;
        while (true)
        {
            string? typed;
            if (AutomaticPhone is not null)
            {
                // A simulated phone types its digits once, straight after the prompt.
                typed = automaticDigits;
                automaticDigits = null;
                if (typed is null && !await PassTimeAsync(timeout))
                {
                    return Outcome.Interrupted;
                }
            }
            else
            {
                var input = await AwaitPersonAsync(CallState.WaitingForDigits, timeout);
                if (input == PersonInput.Interrupted)
                {
                    return Outcome.Interrupted;
                }

                if (input == PersonInput.Silence && !await PassTimeAsync(timeout))
                {
                    return Outcome.Interrupted;
                }

                typed = input == PersonInput.Digits ? call.PendingDigits : null;
                call.PendingDigits = null;
            }

            if (typed is null)
            {
                break; // timeout (or silence): Twilio submits what was typed so far, if anything
            }

            call.Add(new DigitsPressed(Now, typed));
            foreach (var key in typed)
            {
                if (finishOnKey.Contains(key, StringComparison.Ordinal))
                {
                    finishedOnKey = key.ToString();
                    break;
                }

                digits += key;
                if (digits.Length >= numDigits)
                {
                    break;
                }
            }

            if (finishedOnKey is not null || digits.Length >= numDigits)
            {
                break;
            }
        }

        RestoreState();
        if (digits.Length == 0)
        {
            call.Add(new GatherTimedOut(Now, actionOnEmptyResult));
            return actionOnEmptyResult ? Outcome.Goto(new Fetch(action, method, "gather-action", [])) : Outcome.Continue;
        }

        List<KeyValuePair<string, string>> parameters = [new("Digits", digits)];
        if (finishedOnKey is not null)
        {
            parameters.Add(new("FinishedOnKey", finishedOnKey));
        }

        return Outcome.Goto(new Fetch(action, method, "gather-action", parameters));
    }

    private Outcome NotAllowedInGather(XElement verb)
    {
        call.Add(new ApplicationError(Now, 12200, $"<{verb.Name.LocalName}> is not allowed inside <Gather>.", documentUrl, null));
        return Outcome.Error;
    }

    // ---------------------------------------------------------------- Record

    private async Task<Outcome> RecordAsync(XElement record)
    {
        var action = ResolveAttribute(record, "action") ?? documentUrl;
        var method = Method(record, "method");
        var silence = TimeSpan.FromSeconds(IntAttribute(record, "timeout") ?? 5);
        var finishOnKey = Attribute(record, "finishOnKey") ?? "1234567890*#";
        var maxLength = TimeSpan.FromSeconds(IntAttribute(record, "maxLength") is { } max and > 0 ? max : 3600);
        var beep = !string.Equals(Attribute(record, "playBeep"), "false", StringComparison.OrdinalIgnoreCase);
        var statusCallback = ResolveAttribute(record, "recordingStatusCallback");
        var statusCallbackMethod = Method(record, "recordingStatusCallbackMethod");

        call.Add(new RecordingStarted(Now, (int)maxLength.TotalSeconds, finishOnKey, beep));
        var startedAt = Now;
        string? digits;
        if (AutomaticPhone is not null)
        {
            // Simulated phones say nothing: the recording ends silent and the next verb runs.
            return await PassTimeAsync(silence) ? EndSilentRecording() : Outcome.Interrupted;
        }

        var input = await AwaitPersonAsync(CallState.Recording, silence);
        if (input == PersonInput.Interrupted && call.PendingHangUpBy is null)
        {
            return Outcome.Interrupted; // redirected away: no recording
        }

        if (input is PersonInput.Timeout or PersonInput.Silence)
        {
            if (input == PersonInput.Silence && !await PassTimeAsync(silence))
            {
                return Outcome.Interrupted;
            }

            return EndSilentRecording();
        }

        if (input == PersonInput.Interrupted)
        {
            digits = "hangup"; // hung up at the beep: Twilio still delivers what it has
        }
        else
        {
            var (length, thenHangUp) = call.PendingRecording!.Value;
            call.PendingRecording = null;
            call.State = CallState.Recording;
            var spoken = length < maxLength ? length : maxLength;
            var completed = await PassTimeAsync(spoken);
            if (!completed && call.PendingHangUpBy is null)
            {
                return Outcome.Interrupted;
            }

            if (!completed || (thenHangUp && length < maxLength))
            {
                digits = "hangup";
                call.PendingHangUpBy ??= "caller";
            }
            else if (length >= maxLength)
            {
                digits = null; // maxLength reached
            }
            else if (finishOnKey.Length > 0)
            {
                digits = finishOnKey.Contains('#', StringComparison.Ordinal) ? "#" : finishOnKey[..1];
            }
            else
            {
                digits = null; // no finish key: the recording ends after the silence timeout
                await PassTimeAsync(silence);
            }
        }

        var seconds = (int)Math.Round((Now - startedAt).TotalSeconds);
        var recordingSid = simulator.AddRecording(call.Sid, seconds);
        var recordingUrl = simulator.Webhooks.RecordingUrl(recordingSid);
        call.Add(new Recorded(Now, recordingSid, recordingUrl, seconds, digits));

        List<KeyValuePair<string, string>> parameters =
        [
            new("RecordingUrl", recordingUrl.AbsoluteUri),
            new("RecordingSid", recordingSid),
            new("RecordingDuration", seconds.ToString(CultureInfo.InvariantCulture)),
        ];
        if (digits is not null)
        {
            parameters.Add(new("Digits", digits));
        }

        if (statusCallback is not null)
        {
            afterNextFetch = () => PostAsync(statusCallback, statusCallbackMethod,
            [
                new("RecordingSid", recordingSid),
                new("RecordingUrl", recordingUrl.AbsoluteUri),
                new("RecordingStatus", "completed"),
                new("RecordingDuration", seconds.ToString(CultureInfo.InvariantCulture)),
                new("RecordingChannels", "1"),
                new("RecordingSource", "RecordVerb"),
            ], "recording-status");
        }

        RestoreState();
        var actionFetch = new Fetch(action, method, "record-action", parameters);
        if (call.PendingHangUpBy is not null)
        {
            // The caller is gone: Twilio still requests the action (CallStatus=completed) and ignores its TwiML.
            call.Status = "completed";
            await FetchDocumentIgnoringAsync(actionFetch);
            return Outcome.Interrupted;
        }

        return Outcome.Goto(actionFetch);
    }

    private Outcome EndSilentRecording()
    {
        RestoreState();
        call.Add(new Recorded(Now, "", documentUrl, 0, null));
        return Outcome.Continue;
    }

    // ---------------------------------------------------------------- waiting

    private enum PersonInput
    {
        Timeout,
        Interrupted,
        Digits,
        Silence,
        Recording,
        Answer,
        Decline,
    }

    /// <summary>The phone's behaviour when this leg rings a simulated phone that acts by itself.</summary>
    private PhoneBehavior? AutomaticPhone =>
        call.Phone?.Behavior is { Mode: not PhoneMode.Manual } behavior ? behavior : null;

    /// <summary>Blocks until the person on this leg acts, the timeout passes, or the leg is interrupted.</summary>
    private async Task<PersonInput> AwaitPersonAsync(CallState waitingState, TimeSpan? timeout)
    {
        call.State = waitingState;
        call.AwaitingInput = true;
        simulator.HumanNeeded(call);
        var deadline = Now + timeout;
        try
        {
            while (true)
            {
                if (call.Interrupted)
                {
                    return PersonInput.Interrupted;
                }

                if (call.PendingDigits is not null)
                {
                    return PersonInput.Digits;
                }

                if (call.PendingRecording is not null)
                {
                    return PersonInput.Recording;
                }

                if (call.PendingSilence)
                {
                    call.PendingSilence = false;
                    return PersonInput.Silence;
                }

                if (call.PendingAnswer || call.PendingDecline)
                {
                    var answer = call.PendingAnswer;
                    call.PendingAnswer = call.PendingDecline = false;
                    return answer ? PersonInput.Answer : PersonInput.Decline;
                }

                if (await Time.BlockAsync(call.Mailbox, deadline - Now))
                {
                    return PersonInput.Timeout;
                }
            }
        }
        finally
        {
            call.AwaitingInput = false;
        }
    }

    /// <summary>Lets virtual time pass for this leg (speech, music, ringing); false when interrupted.</summary>
    private async Task<bool> PassTimeAsync(TimeSpan? length)
    {
        var end = Now + length;
        while (!call.Interrupted)
        {
            if (end is { } until && Now >= until)
            {
                return true;
            }

            await Time.BlockAsync(call.Mailbox, end - Now);
        }

        return false;
    }

    private void RestoreState() =>
        call.State = call.Participant is not null ? CallState.InConference
            : call.Peer is not null ? CallState.Bridged
            : call.Queue is not null ? CallState.InQueue
            : CallState.Running;

    private Fetch? TakeRedirect()
    {
        if (call.PendingRedirect is not { } redirect || call.PendingHangUpBy is not null)
        {
            return null;
        }

        call.PendingRedirect = null;
        if (redirect.Url is { } url)
        {
            call.Add(new Redirected(Now, url));
        }

        return redirect;
    }

    // ---------------------------------------------------------------- requests and the end of a leg

    /// <summary>POSTs (or GETs) to the app with Twilio's standard voice parameters plus <paramref name="extra"/>.</summary>
    private Task<(int Status, string Body)> PostAsync(Uri url, string method, IEnumerable<KeyValuePair<string, string>> extra, string purpose)
    {
        List<KeyValuePair<string, string>> parameters =
        [
            new("AccountSid", simulator.Settings.AccountSid),
            new("ApiVersion", "2010-04-01"),
            new("CallSid", call.Sid),
            new("CallStatus", call.Status),
            new("Direction", call.Direction),
            new("From", call.From),
            new("To", call.To),
            new("Caller", call.From),
            new("Called", call.To),
        ];
        if (call.ParentCallSid is { } parent)
        {
            parameters.Add(new("ParentCallSid", parent));
        }

        parameters.AddRange(extra);
        return PostAndMarkAnsweredAsync(url, method, parameters, purpose);
    }

    private async Task<(int Status, string Body)> PostAndMarkAnsweredAsync(Uri url, string method, List<KeyValuePair<string, string>> parameters, string purpose)
    {
        var result = await simulator.Webhooks.SendAsync(call, url, method, parameters, purpose);

        // An inbound call is answered by its first TwiML; later requests say in-progress.
        if (call.Status == "ringing" && call.Direction == "inbound" && purpose is "voice" or "fallback")
        {
            call.Status = "in-progress";
            call.AnsweredAt ??= Now;
        }

        return result;
    }

    /// <summary>Requests an action whose TwiML nobody will hear (the party already hung up).</summary>
    private async Task FetchDocumentIgnoringAsync(Fetch fetch)
    {
        if (fetch.Url is { } url)
        {
            await PostAsync(url, fetch.Method, fetch.Parameters, fetch.Purpose);
        }

        if (afterNextFetch is { } deferred)
        {
            afterNextFetch = null;
            await deferred();
        }
    }

    /// <summary>Ends this leg after its TwiML stopped, and sends its final status callback.</summary>
    private async Task FinishAsync(Outcome end)
    {
        var by = call.PendingHangUpBy ?? end.Kind switch
        {
            Kind.HangUp => "twiml",
            Kind.Reject => "twiml",
            Kind.Error => "error",
            _ => "twiml", // the document ran out of verbs: Twilio hangs up
        };
        var status = end.Kind == Kind.Reject ? (end.Detail == "busy" ? "busy" : "no-answer") : "completed";
        await FinishAsync(status, by);
    }

    private async Task FinishAsync(string status, string by)
    {
        if (call.State == CallState.Completed && call.EndedAt is not null)
        {
            return;
        }

        LeaveBridge();
        call.Status = status;
        call.State = CallState.Completed;
        call.EndedAt = Now;
        call.AwaitingInput = false;
        call.Add(new HungUp(Now, by, status));
        if (statusCallbacks is not null)
        {
            var duration = call.AnsweredAt is { } answered ? Seconds(Now - answered) : 0;
            await SendStatusAsync("completed", [new("CallDuration", duration.ToString(CultureInfo.InvariantCulture))]);
        }
    }

    /// <summary>Posts a call progress event (initiated, ringing, answered, completed) if the leg asked for it.</summary>
    private async Task SendStatusAsync(string statusEvent, IEnumerable<KeyValuePair<string, string>>? extra = null)
    {
        if (statusCallbacks is not { } callbacks || !callbacks.Events.Contains(statusEvent))
        {
            return;
        }

        List<KeyValuePair<string, string>> parameters =
        [
            new("CallbackSource", "call-progress-events"),
            new("SequenceNumber", (callbacks.Sequence++).ToString(CultureInfo.InvariantCulture)),
            new("Timestamp", simulator.UtcAt(Now).ToString("R", CultureInfo.InvariantCulture)),
        ];
        parameters.AddRange(extra ?? []);
        await PostAsync(callbacks.Url, callbacks.Method, parameters, "status-callback:" + statusEvent);
    }

    /// <summary>Whole seconds, as Twilio reports durations and queue times.</summary>
    private static int Seconds(TimeSpan span) => (int)Math.Round(span.TotalSeconds, MidpointRounding.AwayFromZero);

    // ---------------------------------------------------------------- attributes

    private static string? Attribute(XElement element, string name) => element.Attribute(name)?.Value;

    private static int? IntAttribute(XElement element, string name) =>
        int.TryParse(Attribute(element, name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string Method(XElement element, string name) =>
        string.Equals(Attribute(element, name), "GET", StringComparison.OrdinalIgnoreCase) ? "GET" : "POST";

    private Uri? ResolveAttribute(XElement element, string name) =>
        Attribute(element, name) is { Length: > 0 } value ? Resolve(value) : null;

    /// <summary>Relative URLs resolve against the document that contained them, as in a browser.</summary>
    private Uri Resolve(string url) => new(documentUrl, url);

    /// <summary>Where a leg's call progress events go, and which it asked for.</summary>
    private sealed class StatusCallbacks(Uri url, string method, IEnumerable<string> events)
    {
        public Uri Url { get; } = url;

        public string Method { get; } = method;

        public HashSet<string> Events { get; } = new(events, StringComparer.OrdinalIgnoreCase);

        public int Sequence { get; set; }
    }
}
