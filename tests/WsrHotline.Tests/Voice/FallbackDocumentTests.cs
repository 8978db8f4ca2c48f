using Microsoft.Extensions.Options;
using System.Xml.Linq;
using WsrHotline.Hosting;
using WsrHotline.Ivr;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

public sealed class FallbackDocumentTests
{
    /// <summary>
    /// The static document for Twilio's Fallback URL rings the emergency numbers and takes a voicemail
    /// in every language, and the copy in ops/ is the one today's flow renders (else regenerate it:
    /// see the README, "Connect a real Twilio number").
    /// </summary>
    [Fact]
    public async Task The_shipped_fallback_document_is_current_and_needs_nothing_from_the_app_to_ring_through()
    {
        var root = PostgresServer.RepositoryRoot;
        var flow = IvrFlowLoader.Load(Path.Combine(root, "ivr-flows"));
        var emergency = new EmergencyTwiml(
            Options.Create(new HotlineOptions { EmergencyOnCallNumbers = ["+15555550117"] }),
            Options.Create(new IvrOptions()));

        var rendered = TwimlWriter.ToXml(emergency.StaticFallback(flow, "https://hotline.example.org", "https://hotline.example.org/ivr-audio"), indented: true);
        var shipped = await File.ReadAllTextAsync(Path.Combine(root, "ops", "twilio-fallback.xml"));

        Assert.Equal(rendered.Trim(), shipped.Trim());
        Assert.Contains("<Number>+15555550117</Number>", shipped, StringComparison.Ordinal);
        Assert.DoesNotContain("<Number url=", shipped, StringComparison.Ordinal);
        Assert.Equal("180", XDocument.Parse(shipped).Root!.Element("Record")!.Attribute("maxLength")!.Value);
        foreach (var language in flow.Languages.Where(l => !l.IsAudioOnly))
        {
            Assert.Contains($"language=\"{language.SayLanguage}\"", shipped, StringComparison.Ordinal);
        }
    }
}
