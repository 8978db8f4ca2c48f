using Twilio.TwiML;
using WsrHotline.Ivr;
using WsrHotline.Twilio;
using Gather = Twilio.TwiML.Voice.Gather;

namespace WsrHotline.Tests.Ivr;

/// <summary>What Twilio is told to say or play, per language, from the shipped flow.</summary>
public sealed class IvrRenderingTests
{
    private const string AudioBase = "https://hotline.test/ivr-audio";
    private static readonly IvrFlow Flow = IvrFlowLoader.Load(FlowsCopy.ShippedPath);
    private static readonly Dictionary<string, string> CaseNumber = new() { ["case_number"] = "12345678" };

    private static void AssertPlays(string pathUnderAudio, PromptSegment segment)
    {
        var url = Assert.IsType<PlaySegment>(segment).Url;
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape($"{AudioBase}/{pathUnderAudio}")}\?v=[0-9a-f]{{12}}$", url);
    }

    [Fact]
    public void A_spanish_prompt_is_said_with_the_spanish_voice()
    {
        var prompt = Flow.Render("es", IvrPromptKeys.Goodbye, null, AudioBase);

        Assert.Equal(new SaySegment("Gracias por llamar. Adiós.", "Polly.Lupe", "es-US"), Assert.Single(prompt.Segments));
        Assert.Equal("Gracias por llamar. Adiós.", prompt.Text);
        Assert.Contains(
            "<Say voice=\"Polly.Lupe\" language=\"es-US\">Gracias por llamar. Adiós.</Say>",
            TwimlWriter.ToXml(new VoiceResponse().AddPrompt(prompt)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_haitian_prompt_plays_its_recording_from_the_audio_base_url()
    {
        var prompt = Flow.Render("ht", IvrPromptKeys.Goodbye, null, AudioBase);

        AssertPlays("ht/goodbye.wav", Assert.Single(prompt.Segments));
        Assert.Equal("Mèsi paske ou rele. Orevwa.", prompt.Text);
        var xml = TwimlWriter.ToXml(new VoiceResponse().Append(new Gather(numDigits: 1).AddPrompt(prompt)));
        Assert.Matches(@"<Gather numDigits=""1""><Play>https://hotline\.test/ivr-audio/ht/goodbye\.wav\?v=[0-9a-f]{12}</Play></Gather>", xml);
    }

    [Fact]
    public void A_case_number_is_said_digit_by_digit()
    {
        var prompt = Flow.Render("en", IvrPromptKeys.CaseNumberReadout, CaseNumber, AudioBase);

        var say = Assert.IsType<SaySegment>(Assert.Single(prompt.Segments));
        Assert.Equal("Your case number is 1, 2, 3, 4, 5, 6, 7, 8.", say.Text);
        Assert.Equal("Polly.Joanna", say.Voice);
        // Transcripts and messages keep the number as the caller would write it.
        Assert.Equal("Your case number is 12345678.", prompt.Text);
    }

    [Fact]
    public void A_case_number_in_haitian_plays_one_digit_file_per_digit()
    {
        var prompt = Flow.Render("ht", IvrPromptKeys.CaseNumberReadout, CaseNumber, AudioBase);

        Assert.Equal(9, prompt.Segments.Count);
        AssertPlays("ht/case_number_readout.wav", prompt.Segments[0]);
        for (var i = 0; i < 8; i++)
        {
            AssertPlays($"ht/digits/{"12345678"[i]}.wav", prompt.Segments[i + 1]);
        }
        Assert.Equal("Nimewo dosye ou se 12345678.", prompt.Text);
    }

    [Fact]
    public void A_haitian_pin_plays_the_words_around_its_digits()
    {
        var prompt = Flow.Render("ht", IvrPromptKeys.PinReadout, new Dictionary<string, string> { ["pin"] = "0907" }, AudioBase);

        Assert.Equal(6, prompt.Segments.Count);
        AssertPlays("ht/pin_readout.wav", prompt.Segments[0]);
        AssertPlays("ht/digits/0.wav", prompt.Segments[1]);
        AssertPlays("ht/digits/9.wav", prompt.Segments[2]);
        AssertPlays("ht/digits/0.wav", prompt.Segments[3]);
        AssertPlays("ht/digits/7.wav", prompt.Segments[4]);
        AssertPlays("ht/pin_readout_2.wav", prompt.Segments[5]);
        Assert.Equal("Kòd PIN ou se 0907. Kenbe l pou ou ka swiv dosye ou.", prompt.Text);
    }

    [Fact]
    public void The_language_menu_offers_each_language_in_its_own_voice_with_its_digit()
    {
        var menu = Flow.RenderLanguageMenu(Flow.StartStep, AudioBase);

        var says = menu.Segments.OfType<SaySegment>().ToList();
        Assert.Contains(new SaySegment("For English, press 1.", "Polly.Joanna", "en-US"), says);
        Assert.Contains(new SaySegment("Para español, oprima 2.", "Polly.Lupe", "es-US"), says);
        Assert.Contains(new SaySegment("বাংলার জন্য 4 চাপুন।", "Google.bn-IN-Standard-A", "bn-IN"), says);
        var plays = menu.Segments.OfType<PlaySegment>().Select(play => play.Url).ToList();
        Assert.Equal(3, plays.Count);
        Assert.StartsWith($"{AudioBase}/ht/greeting.wav?v=", plays[0], StringComparison.Ordinal);
        Assert.StartsWith($"{AudioBase}/ht/language_option.wav?v=", plays[1], StringComparison.Ordinal);
        Assert.StartsWith($"{AudioBase}/ht/digits/3.wav?v=", plays[2], StringComparison.Ordinal);
        Assert.StartsWith("You have reached the WSR worker hotline. For English, press 1. Ha llamado", menu.Text, StringComparison.Ordinal);
        Assert.Contains("Pou Kreyòl ayisyen, peze 3.", menu.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Screening_names_the_language_in_that_language()
    {
        Assert.Equal("Hotline call in English. Press 1 to accept.", Flow.Render("en", IvrPromptKeys.Screening, null, AudioBase).Text);
        Assert.Equal("বাংলা ভাষায় হটলাইনের কল। গ্রহণ করতে ১ চাপুন।", Flow.Render("bn", IvrPromptKeys.Screening, null, AudioBase).Text);
    }

    [Fact]
    public void A_step_renders_its_prompts_in_order()
    {
        var values = new Dictionary<string, string> { ["case_number"] = "12345678", ["pin"] = "4321" };

        var readout = Flow.Render("es", Flow.GetStep("readout").Prompts, values, AudioBase);

        Assert.Equal(4, readout.Segments.Count);
        Assert.Equal(
            "Gracias. Su mensaje quedó guardado. Su número de caso es 12345678. Su número secreto, o PIN, es 4321. " +
            "Guárdelo para consultar su caso. Un investigador que habla su idioma le va a devolver la llamada lo antes posible.",
            readout.Text);
    }

    [Fact]
    public void Missing_or_malformed_values_are_programming_errors()
    {
        Assert.Throws<ArgumentException>(() => Flow.Render("en", IvrPromptKeys.CaseNumberReadout, null, AudioBase));
        Assert.Throws<ArgumentException>(() => Flow.Render("en", IvrPromptKeys.PinReadout, new Dictionary<string, string> { ["pin"] = "12a4" }, AudioBase));
        Assert.Throws<ArgumentException>(() => Flow.Render("fr", IvrPromptKeys.Goodbye, null, AudioBase));
        Assert.Throws<ArgumentException>(() => Flow.Render("en", "no_such_prompt", null, AudioBase));
    }
}
