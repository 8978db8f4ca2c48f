using WsrHotline.Ivr;

namespace WsrHotline.Tests.Ivr;

/// <summary>
/// The shipped flow is valid, and a broken one is refused with messages that name the file, the
/// place and the problem, all of them at once.
/// </summary>
public sealed class IvrFlowLoaderTests : IDisposable
{
    private readonly FlowsCopy flows = new();

    public void Dispose() => flows.Dispose();

    private IvrFlowException LoadFails() => Assert.Throws<IvrFlowException>(() => IvrFlowLoader.Load(flows.Path));

    [Fact]
    public void The_shipped_flow_is_valid_with_every_language_and_prompt()
    {
        var flow = IvrFlowLoader.Load(FlowsCopy.ShippedPath);

        Assert.Equal(["en", "es", "ht", "bn"], flow.Languages.Select(language => language.Code));
        Assert.Equal("en", flow.DefaultLanguage.Code);
        Assert.Equal("language_menu", flow.StartStep.Id);
        Assert.Equal(IvrStepType.LanguageMenu, flow.StartStep.Type);
        Assert.Equal("ht", flow.FindLanguageByDigit("3")?.Code);
        Assert.Null(flow.FindLanguageByDigit("9"));
        Assert.True(flow.FindLanguage("ht")!.IsAudioOnly);
        Assert.Equal("Polly.Lupe", flow.FindLanguage("es")!.SayVoice);
        Assert.Equal("বাংলা", flow.FindLanguage("bn")!.NativeName);
        foreach (var language in flow.Languages)
        {
            Assert.All(IvrPromptKeys.Required, key => Assert.True(language.Prompts.ContainsKey(key), $"{language.Code} lacks {key}"));
        }

        var menu = flow.GetStep("main_menu");
        Assert.Equal(IvrStepType.Menu, menu.Type);
        Assert.Equal("status_check", menu.Options["2"]);
        Assert.Equal("connect", menu.Default);
        Assert.Equal(3, menu.MaxAttempts);
        Assert.Equal("voicemail", flow.GetStep("connect").OnNoAnswer);
        Assert.Equal(["hold_message"], flow.GetStep("connect").HoldPrompts);
        Assert.Equal(180, flow.GetStep("voicemail").MaxLengthSeconds);
    }

    [Fact]
    public void A_prompt_missing_in_bengali_is_named_with_file_and_prompt()
    {
        flows.Replace("prompts/bn.yaml", "goodbye: \"ফোন করার জন্য ধন্যবাদ। বিদায়।\"\n", "");

        var error = LoadFails();

        Assert.Equal(["ivr-flows/prompts/bn.yaml, prompt 'goodbye': is missing: every language needs it"], error.Problems);
        Assert.Contains(flows.Path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_haitian_audio_file_is_named_with_its_line()
    {
        flows.Delete("audio/ht/goodbye.wav");
        var (line, column) = flows.Position("prompts/ht.yaml", "audio/ht/goodbye.wav");

        var error = LoadFails();

        Assert.Equal(
            [$"ivr-flows/prompts/ht.yaml:{line}:{column}, prompt 'goodbye': audio file audio/ht/goodbye.wav does not exist"],
            error.Problems);
    }

    [Fact]
    public void A_missing_digit_file_is_reported_for_prompts_that_read_numbers()
    {
        flows.Delete("audio/ht/digits/7.wav");

        var error = LoadFails();

        // language_option, case_number_readout and pin_readout each play digits.
        Assert.Equal(3, error.Problems.Count);
        Assert.All(error.Problems, problem => Assert.Contains("digit by digit, but audio file audio/ht/digits/7.wav does not exist", problem, StringComparison.Ordinal));
        Assert.Contains(error.Problems, problem => problem.Contains("prompt 'case_number_readout': plays {case_number}", StringComparison.Ordinal));
    }

    [Fact]
    public void A_language_digit_used_twice_is_refused()
    {
        // Single quotes: the same value as "1", but findable.
        flows.Replace("hotline.yaml", "digit: \"2\"", "digit: '1'");
        var (line, column) = flows.Position("hotline.yaml", "'1'");

        var error = LoadFails();

        Assert.Equal(
            [$"ivr-flows/hotline.yaml:{line}:{column}, language 'es': digit '1' is already the digit of language 'en'"],
            error.Problems);
    }

    [Fact]
    public void A_menu_option_to_an_unknown_step_is_refused()
    {
        flows.Replace("hotline.yaml", "\"3\": voicemail", "\"3\": voice_mail");
        var (line, column) = flows.Position("hotline.yaml", "voice_mail");

        var error = LoadFails();

        Assert.Equal(
            [$"ivr-flows/hotline.yaml:{line}:{column}, step 'main_menu': option '3' goes to step 'voice_mail', which does not exist"],
            error.Problems);
    }

    [Fact]
    public void An_unreachable_step_is_refused()
    {
        flows.Replace("hotline.yaml", "  goodbye:\n", "  farewell:\n    type: hangup\n    prompts: [goodbye]\n  goodbye:\n");
        var (line, column) = flows.Position("hotline.yaml", "farewell:");

        var error = LoadFails();

        Assert.Equal(
            [$"ivr-flows/hotline.yaml:{line}:{column}, step 'farewell': cannot be reached from start 'language_menu' (no next, options, default or on_no_answer leads to it)"],
            error.Problems);
    }

    [Fact]
    public void An_unknown_placeholder_is_refused()
    {
        flows.Replace("prompts/es.yaml", "goodbye: \"Gracias por llamar. Adiós.\"", "goodbye: \"Gracias por llamar, {nombre}. Adiós.\"");
        var (line, column) = flows.Position("prompts/es.yaml", "\"Gracias por llamar, {nombre}");

        var error = LoadFails();

        Assert.Equal(
            [$"ivr-flows/prompts/es.yaml:{line}:{column}, prompt 'goodbye': unknown placeholder {{nombre}} (known: {{digit}}, {{language}}, {{case_number}}, {{pin}})"],
            error.Problems);
    }

    [Fact]
    public void A_call_value_outside_its_prompt_or_missing_from_it_is_refused()
    {
        // The app gives the PIN only to pin_readout and sms_case_opened: elsewhere the caller would hear nothing, or the call break.
        flows.Replace("prompts/en.yaml", "goodbye: \"Thank you for calling. Goodbye.\"", "goodbye: \"Your PIN is {pin}. Goodbye.\"");
        flows.Replace("prompts/es.yaml", "Su número de caso es {case_number}.", "Su número de caso es el siguiente.");

        var error = LoadFails();

        Assert.Contains(error.Problems, problem => problem.EndsWith("prompt 'goodbye': {pin} can only be used in 'pin_readout', 'sms_case_opened': the app has no pin to give here", StringComparison.Ordinal));
        Assert.Contains(error.Problems, problem => problem.StartsWith("ivr-flows/prompts/es.yaml:", StringComparison.Ordinal)
            && problem.EndsWith("prompt 'case_number_readout': must contain {case_number}: the caller needs to hear it", StringComparison.Ordinal));
    }

    [Fact]
    public void A_yaml_syntax_error_is_reported_with_its_line()
    {
        flows.Replace("prompts/es.yaml", "goodbye: \"Gracias por llamar. Adiós.\"\n", "goodbye: \"Gracias por llamar. Adiós.\"\n  despedida: \"Adiós\"\n");
        var (line, _) = flows.Position("prompts/es.yaml", "  despedida:");

        var error = LoadFails();

        var problem = Assert.Single(error.Problems);
        Assert.StartsWith($"ivr-flows/prompts/es.yaml:{line}:", problem, StringComparison.Ordinal);
        Assert.Contains("YAML syntax error", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unclosed_list_is_a_syntax_error_not_a_crash()
    {
        flows.Replace("hotline.yaml", "prompts: [confidentiality_notice]", "prompts: [confidentiality_notice");

        var error = LoadFails();

        Assert.StartsWith("ivr-flows/hotline.yaml:", Assert.Single(error.Problems), StringComparison.Ordinal);
        Assert.Contains("YAML syntax error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_problems_are_reported_together()
    {
        flows.Replace("prompts/bn.yaml", "goodbye: \"ফোন করার জন্য ধন্যবাদ। বিদায়।\"\n", "");
        flows.Delete("audio/ht/goodbye.wav");
        flows.Replace("hotline.yaml", "digit: \"2\"", "digit: \"1\"");
        flows.Replace("hotline.yaml", "callback_promise]\n    next: goodbye", "callback_promise]\n    next: good_bye");
        flows.Replace("hotline.yaml", "type: say", "type: speak");
        File.WriteAllText(flows.Full("prompts/fr.yaml"), "goodbye: \"Au revoir.\"\n");

        var error = LoadFails();

        Assert.Contains(error.Problems, p => p.Contains("prompts/bn.yaml, prompt 'goodbye': is missing", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("audio file audio/ht/goodbye.wav does not exist", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("digit '1' is already the digit of language 'en'", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("step 'readout': next goes to step 'good_bye', which does not exist", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("step 'notice': unknown type 'speak'", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("ivr-flows/prompts/fr.yaml: language 'fr' is not declared in hotline.yaml", StringComparison.Ordinal));
        Assert.Contains($"has {error.Problems.Count} problems", error.Message, StringComparison.Ordinal);
        Assert.All(error.Problems, problem => Assert.Contains($"- {problem}", error.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void Structural_mistakes_in_steps_are_refused()
    {
        flows.Replace("hotline.yaml", "    max_length_seconds: 180\n", "    max_length_seconds: 180\n    options: { \"1\": goodbye }\n");
        flows.Replace("hotline.yaml", "    hold_prompts: [hold_message]\n", "    hold_prompts: [hold_message]\n    on_no_anwser: goodbye\n");
        flows.Replace("hotline.yaml", "type: route", "type: route\n    max_attempts: 12");

        var error = LoadFails();

        Assert.Contains(error.Problems, p => p.Contains("step 'voicemail': 'options' does not apply to a voicemail step", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("step 'connect': unknown field 'on_no_anwser'", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("step 'connect': 'max_attempts' must be a whole number from 1 to 9", StringComparison.Ordinal));
    }

    [Fact]
    public void A_haitian_prompt_without_audio_is_refused()
    {
        flows.Replace("prompts/ht.yaml", "goodbye:\n  text: \"Mèsi paske ou rele. Orevwa.\"\n  audio: [audio/ht/goodbye.wav]\n", "goodbye: \"Mèsi paske ou rele. Orevwa.\"\n");

        var error = LoadFails();

        Assert.Contains("prompt 'goodbye': language 'ht' has no `say` voice, so this prompt needs audio", Assert.Single(error.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Message_texts_are_text_only_even_in_haitian_and_required_in_every_language()
    {
        // Shipped: the Haitian sms_ texts load without recordings, and render with the case number and PIN.
        var flow = IvrFlowLoader.Load(flows.Path);
        Assert.Equal("Nimewo dosye ou se 12345674. PIN ou se 0042. Kenbe yo pou w ka swiv dosye ou: ekri ESTATI.",
            flow.RenderText("ht", IvrPromptKeys.SmsCaseOpened, new Dictionary<string, string> { ["case_number"] = "12345674", ["pin"] = "0042" }));

        flows.Replace("prompts/ht.yaml", "sms_received: \"Mèsi, nou resevwa mesaj ou a. Yon envestigatè ap kontakte ou.\"\n",
            "sms_received:\n  text: \"Mèsi.\"\n  audio: [audio/ht/goodbye.wav]\n");
        flows.Replace("prompts/bn.yaml", "sms_status_wrong: \"এই কেস নম্বর বা পিনটি সঠিক নয়।\"\n", "");

        var error = LoadFails();

        Assert.Contains(error.Problems, p => p.EndsWith("prompt 'sms_received': is sent as a text message (sms_…): write it as plain text in quotes, without audio", StringComparison.Ordinal));
        Assert.Contains("ivr-flows/prompts/bn.yaml, prompt 'sms_status_wrong': is missing: every language needs it", error.Problems);
    }

    [Fact]
    public void A_missing_folder_names_the_setting()
    {
        var error = Assert.Throws<IvrFlowException>(() => IvrFlowLoader.Load(Path.Combine(flows.Path, "nowhere")));

        Assert.Contains("does not exist (set Ivr:FlowsPath", error.Message, StringComparison.Ordinal);
    }
}
