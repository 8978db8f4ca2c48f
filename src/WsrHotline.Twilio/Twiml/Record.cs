namespace WsrHotline.Twilio;

/// <summary><c>&lt;Record&gt;</c>: records what the caller says, e.g. a voicemail report.</summary>
public sealed class Record
{
    /// <summary>Maximum length in seconds.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Requested when recording ends; without it Twilio re-requests the current document (a loop).</summary>
    public string? Action { get; init; }

    public string? Method { get; init; }

    /// <summary>Seconds of silence that end the recording.</summary>
    public int? Timeout { get; init; }

    public string? FinishOnKey { get; init; }

    public bool? PlayBeep { get; init; }

    /// <summary>Requested when the recording file is ready (it may not be yet when <see cref="Action"/> runs).</summary>
    public string? RecordingStatusCallback { get; init; }

    public string? RecordingStatusCallbackMethod { get; init; }

    public bool? Transcribe { get; init; }

    public string? TranscribeCallback { get; init; }

    internal TwimlElement ToElement() =>
        new TwimlElement("Record")
            .Attribute("maxLength", MaxLength)
            .Attribute("action", Action)
            .Attribute("method", Method)
            .Attribute("timeout", Timeout)
            .Attribute("finishOnKey", FinishOnKey)
            .Attribute("playBeep", PlayBeep)
            .Attribute("recordingStatusCallback", RecordingStatusCallback)
            .Attribute("recordingStatusCallbackMethod", RecordingStatusCallbackMethod)
            .Attribute("transcribe", Transcribe)
            .Attribute("transcribeCallback", TranscribeCallback);
}
