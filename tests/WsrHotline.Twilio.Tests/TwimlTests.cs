using System.Globalization;
using System.Xml.Linq;

namespace WsrHotline.Twilio.Tests;

/// <summary>Golden tests: the exact XML Twilio will receive.</summary>
public class TwimlTests
{
    private const string Declaration = """<?xml version="1.0" encoding="utf-8"?>""";

    [Fact]
    public void Language_menu()
    {
        var twiml = new VoiceResponse()
            .Gather(new Gather { NumDigits = 1, Timeout = 6, Action = "/twilio/voice/language", Method = "POST", ActionOnEmptyResult = true }
                .Say("For English, press 1.", voice: "Polly.Joanna", language: "en-US")
                .Say("Para español, oprima 2.", voice: "Polly.Lupe", language: "es-US")
                .Say("Pou kreyòl ayisyen, peze 3.", language: "fr-FR")
                .Say("বাংলার জন্য ৪ চাপুন।", language: "bn-IN")
                .Pause(length: 1))
            .Redirect("/twilio/voice/incoming", method: "POST");

        Assert.Equal(
            Declaration + """

            <Response>
              <Gather numDigits="1" timeout="6" action="/twilio/voice/language" method="POST" actionOnEmptyResult="true">
                <Say voice="Polly.Joanna" language="en-US">For English, press 1.</Say>
                <Say voice="Polly.Lupe" language="es-US">Para español, oprima 2.</Say>
                <Say language="fr-FR">Pou kreyòl ayisyen, peze 3.</Say>
                <Say language="bn-IN">বাংলার জন্য ৪ চাপুন।</Say>
                <Pause length="1" />
              </Gather>
              <Redirect method="POST">/twilio/voice/incoming</Redirect>
            </Response>
            """,
            twiml.ToXml(indented: true));
    }

    [Fact]
    public void Compact_output_has_no_whitespace_between_elements()
    {
        var twiml = new VoiceResponse().Say("Hola", voice: "Polly.Lupe", language: "es-US", loop: 2).Hangup();

        Assert.Equal(
            Declaration + """<Response><Say voice="Polly.Lupe" language="es-US" loop="2">Hola</Say><Hangup /></Response>""",
            twiml.ToXml());
        Assert.Equal(twiml.ToXml(), twiml.ToString());
    }

    [Fact]
    public void Dial_with_screening_number()
    {
        var twiml = new VoiceResponse()
            .Say("Connecting you to an advocate.")
            .Dial(new Dial
            {
                Action = "/twilio/voice/dial-result",
                Method = "POST",
                Timeout = 20,
                CallerId = "+18005550100",
                AnswerOnBridge = true,
                Record = "do-not-record",
                RingTone = "us",
            }.Number(
                "+15555550123",
                url: "/twilio/voice/screen?attempt=1&amp=x",
                method: "POST",
                statusCallback: "/twilio/voice/leg-status",
                statusCallbackEvents: ["ringing", "answered", "completed"]));

        Assert.Equal(
            Declaration + """

            <Response>
              <Say>Connecting you to an advocate.</Say>
              <Dial action="/twilio/voice/dial-result" method="POST" timeout="20" callerId="+18005550100" answerOnBridge="true" record="do-not-record" ringTone="us">
                <Number url="/twilio/voice/screen?attempt=1&amp;amp=x" method="POST" statusCallback="/twilio/voice/leg-status" statusCallbackEvent="ringing answered completed">+15555550123</Number>
              </Dial>
            </Response>
            """,
            twiml.ToXml(indented: true));
    }

    [Fact]
    public void Dial_client_and_queue()
    {
        var twiml = new VoiceResponse()
            .Dial(new Dial { AnswerOnBridge = false }
                .Client("advocate-7", url: "/twilio/voice/whisper", method: "GET")
                .Queue("advocates", url: "/twilio/voice/dequeued"));

        Assert.Equal(
            Declaration + """<Response><Dial answerOnBridge="false"><Client url="/twilio/voice/whisper" method="GET">advocate-7</Client><Queue url="/twilio/voice/dequeued">advocates</Queue></Dial></Response>""",
            twiml.ToXml());
    }

    [Fact]
    public void Voicemail_record()
    {
        var twiml = new VoiceResponse()
            .Say("Leave your message after the beep.")
            .Record(new Record
            {
                MaxLength = 120,
                Action = "/twilio/voice/recorded",
                Method = "POST",
                Timeout = 5,
                FinishOnKey = "#",
                PlayBeep = true,
                RecordingStatusCallback = "/twilio/voice/recording-status",
                RecordingStatusCallbackMethod = "POST",
                Transcribe = false,
                TranscribeCallback = "/twilio/voice/transcribed",
            })
            .Hangup();

        Assert.Equal(
            Declaration + """

            <Response>
              <Say>Leave your message after the beep.</Say>
              <Record maxLength="120" action="/twilio/voice/recorded" method="POST" timeout="5" finishOnKey="#" playBeep="true" recordingStatusCallback="/twilio/voice/recording-status" recordingStatusCallbackMethod="POST" transcribe="false" transcribeCallback="/twilio/voice/transcribed" />
              <Hangup />
            </Response>
            """,
            twiml.ToXml(indented: true));
    }

    [Fact]
    public void Enqueue_hold_music_and_leave()
    {
        var enqueue = new VoiceResponse()
            .Enqueue("advocates", waitUrl: "/twilio/voice/hold", action: "/twilio/voice/left-queue", method: "POST");
        var hold = new VoiceResponse()
            .Play("https://cdn.example.org/hold.mp3", loop: 0)
            .Play(digits: "ww1")
            .Pause(length: 2)
            .Pause()
            .Leave();

        Assert.Equal(
            Declaration + """<Response><Enqueue action="/twilio/voice/left-queue" method="POST" waitUrl="/twilio/voice/hold">advocates</Enqueue></Response>""",
            enqueue.ToXml());
        Assert.Equal(
            Declaration + """<Response><Play loop="0">https://cdn.example.org/hold.mp3</Play><Play digits="ww1" /><Pause length="2" /><Pause /><Leave /></Response>""",
            hold.ToXml());
    }

    [Fact]
    public void Reject_and_bare_verbs()
    {
        Assert.Equal(Declaration + """<Response><Reject reason="busy" /></Response>""", new VoiceResponse().Reject("busy").ToXml());
        Assert.Equal(Declaration + """<Response><Reject /></Response>""", new VoiceResponse().Reject().ToXml());
        Assert.Equal(Declaration + "<Response />", new VoiceResponse().ToXml());
    }

    [Fact]
    public void Messages_with_and_without_media()
    {
        var twiml = new MessagingResponse()
            .Message("Recibimos su foto. Gracias.", mediaUrls: ["https://hotline.example.org/media/a.png", "https://hotline.example.org/media/b.pdf"])
            .Message("Hola", to: "+15555550101", from: "+18005550100", action: "/twilio/messaging/status", method: "POST")
            .Message(null, mediaUrls: ["https://hotline.example.org/media/c.png"]);

        Assert.Equal(
            Declaration + """

            <Response>
              <Message>
                <Body>Recibimos su foto. Gracias.</Body>
                <Media>https://hotline.example.org/media/a.png</Media>
                <Media>https://hotline.example.org/media/b.pdf</Media>
              </Message>
              <Message to="+15555550101" from="+18005550100" action="/twilio/messaging/status" method="POST">Hola</Message>
              <Message>
                <Media>https://hotline.example.org/media/c.png</Media>
              </Message>
            </Response>
            """,
            twiml.ToXml(indented: true));
    }

    [Fact]
    public void Markup_characters_and_every_script_are_escaped_correctly()
    {
        const string text = """Pay <$15> & "overtime" isn't optional 🙂 — Peye m' lajan m! পারিশ্রমিক দিন""";
        var twiml = new VoiceResponse().Say(text, voice: """a"b<c>&d'e""");

        Assert.Equal(
            Declaration + """<Response><Say voice="a&quot;b&lt;c&gt;&amp;d'e">Pay &lt;$15&gt; &amp; "overtime" isn't optional 🙂 — Peye m' lajan m! পারিশ্রমিক দিন</Say></Response>""",
            twiml.ToXml());

        var say = XDocument.Parse(twiml.ToXml()).Root!.Element("Say")!;
        Assert.Equal(text, say.Value);
        Assert.Equal("""a"b<c>&d'e""", say.Attribute("voice")!.Value);
    }

    [Fact]
    public void Characters_that_xml_cannot_hold_are_dropped_instead_of_failing_the_call()
    {
        var twiml = new MessagingResponse().Message("a\u0001b\uD800c 🙂");

        Assert.Equal(Declaration + "<Response><Message>abc 🙂</Message></Response>", twiml.ToXml());
    }

    [Fact]
    public void Output_is_utf8_without_bom_and_parses_back()
    {
        var twiml = new VoiceResponse()
            .Gather(new Gather { Input = "dtmf speech", Language = "es-US", FinishOnKey = "" }.Say("¿Cómo está?"))
            .Dial(new Dial().Number("+15555550123"));

        var bytes = twiml.ToUtf8Bytes();
        Assert.Equal((byte)'<', bytes[0]);

        using var stream = new MemoryStream(bytes);
        var document = XDocument.Load(stream);
        Assert.Equal("Response", document.Root!.Name.LocalName);
        Assert.Equal(["Gather", "Dial"], document.Root.Elements().Select(e => e.Name.LocalName));
        Assert.Equal("", document.Root.Element("Gather")!.Attribute("finishOnKey")!.Value);
        Assert.Equal("¿Cómo está?", document.Root.Element("Gather")!.Element("Say")!.Value);
    }

    [Fact]
    public void Numbers_do_not_follow_the_current_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = new CultureInfo("ar-EG");
            var xml = new VoiceResponse().Pause(length: 1234).ToXml();
            Assert.Contains("<Pause length=\"1234\" />", xml, StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void Twiml_result_reports_content_type_and_status()
    {
        var result = new TwimlResult(new VoiceResponse().Hangup());

        Assert.Equal("application/xml; charset=utf-8", result.ContentType);
        Assert.Equal(200, result.StatusCode);
        Assert.IsType<TwimlResult>(Microsoft.AspNetCore.Http.Results.Extensions.Twiml(new MessagingResponse()));
    }
}
