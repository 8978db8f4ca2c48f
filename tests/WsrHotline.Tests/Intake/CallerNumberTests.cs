using WsrHotline.Intake;

namespace WsrHotline.Tests.Intake;

public sealed class CallerNumberTests
{
    [Theory]
    [InlineData("+15555550123", "+15555550123")]
    [InlineData("whatsapp:+8801712345678", "+8801712345678")]
    [InlineData(" +1 (555) 555-0123 ", "+15555550123")]
    [InlineData("+50937001122", "+50937001122")]
    public void Normalizes_what_twilio_sends_to_e164(string address, string expected) =>
        Assert.Equal(expected, CallerNumber.Normalize(address));

    [Theory]
    [InlineData("anonymous")]
    [InlineData("Restricted")]
    [InlineData("unknown")]
    [InlineData("+266696687")]
    [InlineData("+7378742833")]
    [InlineData("+86282452253")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("client:maria")]
    [InlineData("+1234")]
    [InlineData("+1555555012345678901")]
    public void Withheld_or_malformed_numbers_are_not_numbers(string? address) =>
        Assert.Null(CallerNumber.Normalize(address));

    [Fact]
    public void The_whatsapp_prefix_marks_the_channel()
    {
        Assert.True(CallerNumber.IsWhatsApp("whatsapp:+15555550123"));
        Assert.False(CallerNumber.IsWhatsApp("+15555550123"));
    }
}
