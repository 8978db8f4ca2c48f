using System.Globalization;
using System.Xml.Linq;

namespace WsrHotline.Simulator;

/// <summary>Queues: &lt;Enqueue&gt; with its waitUrl loop, and &lt;Dial&gt;&lt;Queue&gt; taking the first caller.</summary>
internal sealed partial class LegRunner
{
    /// <summary>What a queue without waitUrl plays (Twilio's default classical playlist); not fetched.</summary>
    private static readonly Uri DefaultHoldMusic = new("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3");

    private static readonly TimeSpan DefaultHoldMusicLength = TimeSpan.FromSeconds(30);

    private TimeSpan enqueuedAt;

    private async Task<Outcome> EnqueueAsync(XElement enqueue)
    {
        var name = enqueue.Value.Trim();
        var action = ResolveAttribute(enqueue, "action");
        var method = Method(enqueue, "method");
        var waitUrl = ResolveAttribute(enqueue, "waitUrl");
        var waitMethod = Method(enqueue, "waitUrlMethod");
        var mainDocument = documentUrl;

        var queue = simulator.Queue(name);
        List<SimulatedCall> dialers;
        lock (queue)
        {
            queue.Members.Add(call);
            dialers = [.. queue.Dialers];
        }

        call.Queue = queue;
        call.State = CallState.InQueue;
        enqueuedAt = Now;
        call.Add(new Enqueued(Now, name, queue.Sid));
        foreach (var dialer in dialers)
        {
            Time.Signal(dialer.Mailbox); // a <Dial><Queue> was waiting for someone to join
        }

        var (result, hungUpByTwiml) = await WaitInQueueAsync(queue, waitUrl, waitMethod);
        documentUrl = mainDocument;

        lock (queue)
        {
            queue.Members.Remove(call);
        }

        var queueTime = Seconds(Now - enqueuedAt);
        queue.CompletedWaits.Add(queueTime);
        call.Queue = null;
        call.Add(new QueueExited(Now, name, result, queueTime));
        RestoreState();

        if (result == "bridged")
        {
            result = await JoinDequeuerAsync(queue, queueTime);
        }

        var parameters = new List<KeyValuePair<string, string>>
        {
            new("QueueResult", result),
            new("QueueSid", queue.Sid),
            new("QueueTime", queueTime.ToString(CultureInfo.InvariantCulture)),
        };
        var actionFetch = action is null ? null : new Fetch(action, method, "enqueue-action", parameters);

        if (call.PendingHangUpBy is not null || hungUpByTwiml || result == "redirected")
        {
            // Twilio still tells the action how the wait ended, but nobody hears its TwiML.
            if (call.PendingHangUpBy is not null)
            {
                call.Status = "completed";
            }

            if (actionFetch is not null)
            {
                await FetchDocumentIgnoringAsync(actionFetch);
            }

            return hungUpByTwiml ? new Outcome(Kind.HangUp) : Outcome.Interrupted;
        }

        if (result == "error")
        {
            return Outcome.Error;
        }

        // Without an action Twilio goes on with the verb after <Enqueue>.
        return actionFetch is null ? Outcome.Continue : Outcome.Goto(actionFetch);
    }

    /// <summary>Runs the waitUrl over and over until the caller leaves, hangs up, is redirected or dequeued.</summary>
    private async Task<(string Result, bool HungUpByTwiml)> WaitInQueueAsync(SimulatedQueue queue, Uri? waitUrl, string waitMethod)
    {
        Fetch? next = null;
        while (true)
        {
            if (call.PendingHangUpBy is not null)
            {
                return ("hangup", false);
            }

            if (call.PendingDequeue is not null)
            {
                return ("bridged", false);
            }

            if (call.PendingRedirect is not null)
            {
                return ("redirected", false);
            }

            call.State = CallState.InQueue;
            if (waitUrl is null && next is null)
            {
                call.Add(new Played(Now, DefaultHoldMusic, null));
                await PassTimeAsync(DefaultHoldMusicLength);
                continue;
            }

            // Every wait request (and Redirect or Gather action inside it) carries the queue's state.
            var fetch = next ?? new Fetch(waitUrl!, waitMethod, "wait-url", []);
            next = null;
            var document = await FetchDocumentAsync(fetch with { Parameters = [.. fetch.Parameters, .. QueueParameters(queue)] }, null);
            if (document is null || !NotLooping())
            {
                return ("error", false);
            }

            var outcome = await ExecuteAsync(document.Elements(), Context.Wait);
            switch (outcome.Kind)
            {
                case Kind.Leave:
                    return ("leave", false);
                case Kind.HangUp:
                    return ("hangup", true);
                case Kind.Error:
                    return ("error", false);
                case Kind.Goto:
                    next = outcome.Next; // Redirect or a Gather's action: still waiting in the queue
                    break;
                default:
                    break; // the document ended (or was interrupted): Twilio requests waitUrl again
            }
        }
    }

    private List<KeyValuePair<string, string>> QueueParameters(SimulatedQueue queue)
    {
        int position;
        int size;
        lock (queue)
        {
            position = queue.Members.IndexOf(call) + 1;
            size = queue.Members.Count;
        }

        return
        [
            new("QueueSid", queue.Sid),
            new("QueuePosition", position.ToString(CultureInfo.InvariantCulture)),
            new("QueueTime", Seconds(Now - enqueuedAt).ToString(CultureInfo.InvariantCulture)),
            new("AvgQueueTime", queue.AverageWaitSeconds.ToString(CultureInfo.InvariantCulture)),
            new("CurrentQueueSize", size.ToString(CultureInfo.InvariantCulture)),
            new("MaxQueueSize", "1000"),
        ];
    }

    /// <summary>
    /// Another leg's &lt;Dial&gt;&lt;Queue&gt; took this caller: hear its &lt;Queue url&gt;, talk until one
    /// side hangs up. Returns the QueueResult for the &lt;Enqueue action&gt;.
    /// </summary>
    private async Task<string> JoinDequeuerAsync(SimulatedQueue queue, int queueTime)
    {
        var dequeue = call.PendingDequeue!;
        call.PendingDequeue = null;
        if (dequeue.Url is { } url)
        {
            var mainDocument = documentUrl;
            await RunTwimlAsync(url with
            {
                Parameters =
                [
                    new("QueueSid", queue.Sid),
                    new("QueueTime", queueTime.ToString(CultureInfo.InvariantCulture)),
                    new("DequeingCallSid", dequeue.Agent.Sid),
                ],
            }, null, Context.QueueUrl);
            documentUrl = mainDocument;
            TakeRedirect(); // a Redirect in the <Queue url> document only changes what the caller hears first
        }

        if (call.PendingHangUpBy is not null || dequeue.Agent.State == CallState.Completed)
        {
            dequeue.Agent.PeerLeft = true;
            Time.Signal(dequeue.Agent.Mailbox);
            return "hangup";
        }

        Connect(call, dequeue.Agent);
        await StayBridgedAsync(timeLimit: null);
        LeaveBridge();
        return "bridged";
    }

    /// <summary>&lt;Dial&gt;&lt;Queue&gt;: connects this leg to the first caller waiting in the queue.</summary>
    private async Task<Outcome> DialQueueAsync(XElement queueNoun, Uri? action, string method, TimeSpan timeout, TimeSpan timeLimit)
    {
        var name = queueNoun.Value.Trim();
        call.Add(new Dialed(Now, ["queue:" + name]));
        if (simulator.FindQueue(name) is not { } queue)
        {
            return await AfterDialAsync(action, method, "failed", null, 0, []); // Twilio: no such queue
        }

        call.State = CallState.Dialing;
        var url = ResolveAttribute(queueNoun, "url") is { } queueUrl ? new Fetch(queueUrl, Method(queueNoun, "method"), "queue-url", []) : null;
        var deadline = Now + timeout;
        SimulatedCall? member = null;
        while (!call.Interrupted && Now < deadline)
        {
            lock (queue)
            {
                member = queue.Members.FirstOrDefault(m => m.PendingDequeue is null);
                if (member is null)
                {
                    if (!queue.Dialers.Contains(call))
                    {
                        queue.Dialers.Add(call);
                    }
                }
                else
                {
                    member.PendingDequeue = new Dequeue(call, url);
                }
            }

            if (member is not null)
            {
                break;
            }

            await Time.BlockAsync(call.Mailbox, deadline - Now); // an Enqueue signals waiting dialers
        }

        lock (queue)
        {
            queue.Dialers.Remove(call);
        }

        if (member is null)
        {
            return await AfterDialAsync(action, method, call.Interrupted ? "canceled" : "no-answer", null, 0, []);
        }

        var waited = Seconds(Now - member.StartedAt);
        Time.Signal(member.Mailbox);

        // The caller hears the <Queue url> document, then joins this leg (or hangs up first).
        while (call.Peer is null && !call.PeerLeft && call.PendingHangUpBy is null)
        {
            await Time.BlockAsync(call.Mailbox, null);
        }

        var status = "completed";
        var duration = 0;
        if (call.Peer is null)
        {
            call.PeerLeft = false;
            status = call.PendingHangUpBy is null ? "failed" : "canceled";
        }
        else
        {
            var start = Now;
            await StayBridgedAsync(timeLimit);
            duration = Seconds(Now - start);
            LeaveBridge();
        }

        return await AfterDialAsync(action, method, status, member, duration,
        [
            new("QueueSid", queue.Sid),
            new("DequeuedCallSid", member.Sid),
            new("DequeuedCallDuration", waited.ToString(CultureInfo.InvariantCulture)),
        ]);
    }
}
