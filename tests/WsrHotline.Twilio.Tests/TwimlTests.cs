using System.Globalization;
using System.Xml.Linq;
using Twilio.TwiML;
using Twilio.TwiML.Messaging;
using Twilio.Types;
using Dial = Twilio.TwiML.Voice.Dial;
using Gather = Twilio.TwiML.Voice.Gather;
using Number = Twilio.TwiML.Voice.Number;
using Reject = Twilio.TwiML.Voice.Reject;

namespace WsrHotline.Twilio.Tests;

/// <summary>
/// Twilio's TwiML classes as the hotline writes them (<see cref="TwimlWriter"/>, <see cref="TwiMLResult"/>):
/// the exact bytes Twilio receives, and the spellings the phone simulator reads.
/// </summary>
public class TwimlTests
{
    private const string Declaration = """<?xml version="1.0" encoding="utf-8"?>""";

    private static Uri Url(string pathOrUrl) => new(pathOrUrl, UriKind.RelativeOrAbsolute);

    [Fact]
    public void Compact_output_has_the_declaration_and_no_whitespace_between_elements()
    {
        var twiml = new VoiceResponse().Say("Hola", voice: "Polly.Lupe", language: "es-US", loop: 2).Hangup();

        Assert.Equal(
            Declaration + """<Response><Say voice="Polly.Lupe" loop="2" language="es-US">Hola</Say><Hangup></Hangup></Response>""",
            TwimlWriter.ToXml(twiml));
        Assert.Equal(Declaration + "<Response></Response>", TwimlWriter.ToXml(new VoiceResponse()));
    }

    [Fact]
    public void Indented_output_is_for_humans_and_parses_to_the_same_document()
    {
        var twiml = new VoiceResponse()
            .Append(new Gather(numDigits: 1, timeout: 6, action: Url("/twilio/voice/language"), actionOnEmptyResult: true)
                .Say("Para español, oprima 2.", voice: "Polly.Lupe", language: "es-US")
                .Pause(length: 1))
            .Redirect(Url("/twilio/voice/incoming"));

        var indented = TwimlWriter.ToXml(twiml, indented: true);

        Assert.Contains("\n  <Gather ", indented, StringComparison.Ordinal);
        Assert.True(XNode.DeepEquals(XDocument.Parse(TwimlWriter.ToXml(twiml)), XDocument.Parse(indented)));
    }

    /// <summary>The simulator (and Twilio) read these names and values; Twilio's classes must write them so.</summary>
    [Fact]
    public void Attribute_names_enum_values_and_booleans_are_spelled_as_twiml_spells_them()
    {
        var twiml = new VoiceResponse()
            .Append(new Gather(input: [Gather.InputEnum.Dtmf, Gather.InputEnum.Speech], numDigits: 8, finishOnKey: "#", timeout: 10,
                action: Url("status/case?lang=es&attempt=2"), actionOnEmptyResult: true, language: "es-US"))
            .Append(new Dial(action: Url("emergency/dial-result"), timeout: 20, answerOnBridge: true, callerId: "+18005550100",
                    record: Dial.RecordEnum.DoNotRecord, ringTone: Dial.RingToneEnum.Us)
                .Number(new PhoneNumber("+15555550123"), url: Url("emergency/screen"), statusCallback: Url("leg-status"),
                    statusCallbackEvent: [Number.EventEnum.Ringing, Number.EventEnum.Answered, Number.EventEnum.Completed])
                .Queue("call-7", url: Url("connecting")))
            .Enqueue("call-7", waitUrl: Url("wait?lang=es"), action: Url("queue-result?lang=es"))
            .Record(maxLength: 180, timeout: 8, finishOnKey: "#", playBeep: false, action: Url("recorded"), recordingStatusCallback: Url("recording"))
            .Reject(reason: Reject.ReasonEnum.Busy);

        var root = XDocument.Parse(TwimlWriter.ToXml(twiml)).Root!;
        var gather = root.Element("Gather")!;
        Assert.Equal("dtmf speech", gather.Attribute("input")!.Value);
        Assert.Equal("8", gather.Attribute("numDigits")!.Value);
        Assert.Equal("#", gather.Attribute("finishOnKey")!.Value);
        Assert.Equal("10", gather.Attribute("timeout")!.Value);
        Assert.Equal("status/case?lang=es&attempt=2", gather.Attribute("action")!.Value);
        Assert.Equal("true", gather.Attribute("actionOnEmptyResult")!.Value);
        Assert.Equal("es-US", gather.Attribute("language")!.Value);

        var dial = root.Element("Dial")!;
        Assert.Equal("true", dial.Attribute("answerOnBridge")!.Value);
        Assert.Equal("do-not-record", dial.Attribute("record")!.Value);
        Assert.Equal("us", dial.Attribute("ringTone")!.Value);
        Assert.Equal("20", dial.Attribute("timeout")!.Value);
        var number = dial.Element("Number")!;
        Assert.Equal("+15555550123", number.Value);
        Assert.Equal("emergency/screen", number.Attribute("url")!.Value);
        Assert.Equal("ringing answered completed", number.Attribute("statusCallbackEvent")!.Value);
        Assert.Equal("call-7", dial.Element("Queue")!.Value);

        var enqueue = root.Element("Enqueue")!;
        Assert.Equal("call-7", enqueue.Value);
        Assert.Equal("wait?lang=es", enqueue.Attribute("waitUrl")!.Value);

        var record = root.Element("Record")!;
        Assert.Equal("180", record.Attribute("maxLength")!.Value);
        Assert.Equal("false", record.Attribute("playBeep")!.Value);
        Assert.Equal("recording", record.Attribute("recordingStatusCallback")!.Value);
        Assert.Equal("busy", root.Element("Reject")!.Attribute("reason")!.Value);
    }

    [Fact]
    public void Urls_are_written_exactly_as_given()
    {
        const string action = "https://hotline.example.org/twilio/voice/status/pin?lang=bn&case=12345674&x=%2B%20";
        var xml = TwimlWriter.ToXml(new VoiceResponse().Append(new Gather(action: new Uri(action))).Redirect(Url("step/goodbye?lang=ht")));

        var root = XDocument.Parse(xml).Root!;
        Assert.Equal(action, root.Element("Gather")!.Attribute("action")!.Value);
        Assert.Equal("step/goodbye?lang=ht", root.Element("Redirect")!.Value);
    }

    [Fact]
    public void Messages_with_and_without_media()
    {
        var withMedia = new Message();
        withMedia.Body("Recibimos su foto. Gracias.");
        withMedia.Media(new Uri("https://hotline.example.org/media/a.png"));
        var twiml = new MessagingResponse().Append(withMedia).Append(new Message("Hola"));

        Assert.Equal(
            Declaration + "<Response><Message><Body>Recibimos su foto. Gracias.</Body><Media>https://hotline.example.org/media/a.png</Media></Message>"
            + "<Message>Hola</Message></Response>",
            TwimlWriter.ToXml(twiml));
        Assert.Equal(Declaration + "<Response></Response>", TwimlWriter.ToXml(new MessagingResponse()));
    }

    [Fact]
    public void Markup_characters_and_every_script_are_escaped_correctly()
    {
        const string text = """Pay <$15> & "overtime" isn't optional 🙂 — Peye m' lajan m! পারিশ্রমিক দিন""";
        var xml = TwimlWriter.ToXml(new VoiceResponse().Say(text, voice: """a"b<c>&d'e"""));

        var say = XDocument.Parse(xml).Root!.Element("Say")!;
        Assert.Equal(text, say.Value);
        Assert.Equal("""a"b<c>&d'e""", say.Attribute("voice")!.Value);
        Assert.Contains("Pay &lt;$15&gt; &amp;", xml, StringComparison.Ordinal);
    }

    [Fact]
    public void Characters_that_xml_cannot_hold_are_dropped_instead_of_failing_the_call()
    {
        var twiml = new VoiceResponse().Say("a\u0001b\uD800c 🙂", voice: "Polly\u0002.Lupe");

        Assert.Equal(Declaration + """<Response><Say voice="Polly.Lupe">abc 🙂</Say></Response>""", TwimlWriter.ToXml(twiml));
    }

    [Fact]
    public void Output_is_utf8_without_bom()
    {
        var bytes = TwimlWriter.ToUtf8Bytes(new VoiceResponse().Say("¿Cómo está?"));

        Assert.Equal((byte)'<', bytes[0]);
        using var stream = new MemoryStream(bytes);
        Assert.Equal("¿Cómo está?", XDocument.Load(stream).Root!.Element("Say")!.Value);
    }

    [Fact]
    public void Numbers_do_not_follow_the_current_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = new CultureInfo("ar-EG");
            Assert.Contains("<Pause length=\"1234\">", TwimlWriter.ToXml(new VoiceResponse().Pause(length: 1234)), StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public async Task Twiml_result_writes_the_document_with_its_content_type()
    {
        var result = new TwiMLResult(new VoiceResponse().Hangup());
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Response.Body = new MemoryStream();

        await result.ExecuteAsync(context);

        Assert.Equal("application/xml; charset=utf-8", result.ContentType);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal("application/xml; charset=utf-8", context.Response.ContentType);
        Assert.Equal(TwimlWriter.ToUtf8Bytes(new VoiceResponse().Hangup()), ((MemoryStream)context.Response.Body).ToArray());
        Assert.IsType<TwiMLResult>(Microsoft.AspNetCore.Http.Results.Extensions.TwiML(new MessagingResponse()));
    }
}
