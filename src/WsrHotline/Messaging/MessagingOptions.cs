namespace WsrHotline.Messaging;

/// <summary>Section <c>Messaging</c>: how replies to workers' texts are sent.</summary>
public sealed class MessagingOptions
{
    /// <summary>Whether this instance runs the outbound sender (every instance may: claims never overlap).</summary>
    public bool SenderEnabled { get; set; } = true;

    /// <summary>How often the sender looks for replies to send when it found none.</summary>
    public TimeSpan SendInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many replies one claim takes.</summary>
    public int SendBatchSize { get; set; } = 20;

    /// <summary>Attempts in all before a reply is given up as failed.</summary>
    public int SendMaxAttempts { get; set; } = 6;

    /// <summary>The wait after the first failed attempt, doubled after each further one.</summary>
    public TimeSpan SendRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a claimed reply may stay unsent: a claim older than this belonged to a sender that
    /// stopped mid-send, and the reply is marked failed rather than sent again (it may have gone out).
    /// </summary>
    public TimeSpan SendLease { get; set; } = TimeSpan.FromMinutes(2);
}
