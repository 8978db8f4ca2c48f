using System.Text;
using System.Xml;
using System.Xml.Linq;
using Twilio.TwiML;

namespace WsrHotline.Twilio;

/// <summary>
/// Writes a TwiML document built with Twilio's <c>VoiceResponse</c> / <c>MessagingResponse</c> as the
/// bytes Twilio receives: UTF-8 without a byte order mark, after the XML declaration.
/// </summary>
/// <remarks>
/// Text reaches TwiML from translators (the IVR flow) and from callers; a stray control character or
/// half a surrogate pair would make the XML writer throw and the caller hear Twilio's "application
/// error", so characters XML cannot hold are dropped from every text and attribute first.
/// </remarks>
public static class TwimlWriter
{
    private static readonly UTF8Encoding Utf8WithoutBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>The document as UTF-8 bytes; <paramref name="indented"/> is for humans (files, tests).</summary>
    public static byte[] ToUtf8Bytes(TwiML twiml, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(twiml);
        var document = twiml.ToXDocument();
        foreach (var text in document.DescendantNodes().OfType<XText>())
        {
            text.Value = RemoveInvalidXmlChars(text.Value);
        }
        foreach (var attribute in document.Descendants().Attributes())
        {
            attribute.Value = RemoveInvalidXmlChars(attribute.Value);
        }

        var settings = new XmlWriterSettings { Encoding = Utf8WithoutBom, Indent = indented, IndentChars = "  ", NewLineChars = "\n" };
        using var stream = new MemoryStream();
        using (var writer = XmlWriter.Create(stream, settings))
        {
            document.Save(writer);
        }
        return stream.ToArray();
    }

    /// <summary>The document as a string, as <see cref="ToUtf8Bytes"/> writes it.</summary>
    public static string ToXml(TwiML twiml, bool indented = false) => Utf8WithoutBom.GetString(ToUtf8Bytes(twiml, indented));

    private static string RemoveInvalidXmlChars(string value)
    {
        var cleaned = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                cleaned.Append(c).Append(value[++i]);
            }
            else if (XmlConvert.IsXmlChar(c))
            {
                cleaned.Append(c);
            }
        }
        return cleaned.Length == value.Length ? value : cleaned.ToString();
    }
}
