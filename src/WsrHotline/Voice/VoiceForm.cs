using System.Globalization;

namespace WsrHotline.Voice;

/// <summary>The fields of a Twilio voice webhook this app reads; missing ones are empty or null.</summary>
public sealed class VoiceForm(IFormCollection form)
{
    public string CallSid => Text("CallSid");

    public string From => Text("From");

    public string CallStatus => Text("CallStatus");

    public string Digits => Text("Digits");

    public string QueueResult => Text("QueueResult");

    public int QueueTime => Number("QueueTime") ?? 0;

    public int? CallDuration => Number("CallDuration");

    public string RecordingSid => Text("RecordingSid");

    public string RecordingUrl => Text("RecordingUrl");

    public int? RecordingDuration => Number("RecordingDuration");

    public IFormCollection Fields => form;

    private string Text(string name) => form[name].ToString();

    private int? Number(string name) =>
        int.TryParse(form[name], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
}
