using System.Text;
using System.Xml;

namespace WsrHotline.Twilio;

/// <summary>
/// A TwiML <c>&lt;Response&gt;</c> document. Serialised with <see cref="XmlWriter"/> so that text in any
/// language, and characters such as &lt; &amp; or quotes, are always escaped correctly.
/// </summary>
public abstract class TwimlResponse
{
    private static readonly UTF8Encoding Utf8WithoutBom = new(encoderShouldEmitUTF8Identifier: false);

    private readonly TwimlElement root = new("Response");

    // Only VoiceResponse and MessagingResponse: TwiML has exactly these two document kinds.
    private protected TwimlResponse()
    {
    }

    private protected void Append(TwimlElement verb) => root.Add(verb);

    /// <summary>The document as UTF-8 bytes (no byte order mark), starting with the XML declaration.</summary>
    public byte[] ToUtf8Bytes(bool indented = false)
    {
        var settings = new XmlWriterSettings
        {
            Encoding = Utf8WithoutBom,
            Indent = indented,
            IndentChars = "  ",
            NewLineChars = "\n",
        };

        using var stream = new MemoryStream();
        using (var writer = XmlWriter.Create(stream, settings))
        {
            writer.WriteStartDocument();
            root.WriteTo(writer);
            writer.WriteEndDocument();
        }

        return stream.ToArray();
    }

    /// <summary>The document as a string; <paramref name="indented"/> is for humans (tests, logs of TwiML structure).</summary>
    public string ToXml(bool indented = false) => Utf8WithoutBom.GetString(ToUtf8Bytes(indented));

    public override string ToString() => ToXml();
}
