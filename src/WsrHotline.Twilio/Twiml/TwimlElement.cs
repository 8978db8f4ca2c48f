using System.Globalization;
using System.Text;
using System.Xml;

namespace WsrHotline.Twilio;

/// <summary>One XML element of a TwiML document: a verb or noun with its attributes, text and children.</summary>
internal sealed class TwimlElement(string name, string? text = null)
{
    private readonly List<KeyValuePair<string, string>> attributes = [];
    private readonly List<TwimlElement> children = [];

    /// <summary>Adds an attribute only when it was set, so Twilio applies its own default otherwise.</summary>
    public TwimlElement Attribute(string attributeName, string? value)
    {
        if (value is not null)
        {
            attributes.Add(KeyValuePair.Create(attributeName, value));
        }

        return this;
    }

    public TwimlElement Attribute(string attributeName, int? value) =>
        Attribute(attributeName, value?.ToString(CultureInfo.InvariantCulture));

    public TwimlElement Attribute(string attributeName, bool? value) =>
        Attribute(attributeName, value switch { true => "true", false => "false", null => null });

    public TwimlElement Attribute(string attributeName, Uri? value) =>
        Attribute(attributeName, value?.OriginalString);

    public TwimlElement Add(TwimlElement child)
    {
        children.Add(child);
        return this;
    }

    public void WriteTo(XmlWriter writer)
    {
        writer.WriteStartElement(name);
        foreach (var (attributeName, value) in attributes)
        {
            writer.WriteAttributeString(attributeName, RemoveInvalidXmlChars(value));
        }

        if (text is not null)
        {
            writer.WriteString(RemoveInvalidXmlChars(text));
        }

        foreach (var child in children)
        {
            child.WriteTo(writer);
        }

        writer.WriteEndElement();
    }

    /// <summary>
    /// Text may come from callers or translators; a stray control character or half a surrogate pair
    /// would make XmlWriter throw and the caller hear Twilio's "application error", so drop them.
    /// </summary>
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
