using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace WsrHotline.Twilio.Tests;

public class TwilioRequestValidatorTests
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private const string Url = "https://hotline.example.org/twilio/messaging/incoming";

    private static readonly Dictionary<string, string> Form = new()
    {
        ["MessageSid"] = "SM0001",
        ["From"] = "+15555550101",
        ["To"] = "+18005550100",
        ["Body"] = "Hola, no me pagaron las horas extras",
    };

    private readonly TwilioRequestValidator validator = new(Token);

    [Fact]
    public void Signed_request_is_valid()
    {
        var signature = TwilioRequestSigner.Sign(Token, Url, Form);
        Assert.True(validator.Validate(Url, Form, signature));
    }

    [Fact]
    public void Tampered_parameter_is_invalid()
    {
        var signature = TwilioRequestSigner.Sign(Token, Url, Form);
        var tampered = new Dictionary<string, string>(Form) { ["Body"] = "Hola, todo bien" };
        Assert.False(validator.Validate(Url, tampered, signature));
    }

    [Fact]
    public void Extra_parameter_is_invalid()
    {
        var signature = TwilioRequestSigner.Sign(Token, Url, Form);
        var extended = new Dictionary<string, string>(Form) { ["NumMedia"] = "1" };
        Assert.False(validator.Validate(Url, extended, signature));
    }

    [Theory]
    [InlineData("https://hotline.example.org/twilio/messaging/incomingx")]
    [InlineData("https://evil.example.org/twilio/messaging/incoming")]
    [InlineData("http://hotline.example.org/twilio/messaging/incoming")]
    [InlineData("https://hotline.example.org/twilio/messaging/incoming?x=1")]
    [InlineData("https://hotline.example.org:8443/twilio/messaging/incoming")]
    public void Tampered_url_is_invalid(string otherUrl)
    {
        var signature = TwilioRequestSigner.Sign(Token, Url, Form);
        Assert.False(validator.Validate(otherUrl, Form, signature));
    }

    [Fact]
    public void Wrong_token_is_invalid()
    {
        var signature = TwilioRequestSigner.Sign("another-token", Url, Form);
        Assert.False(validator.Validate(Url, Form, signature));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not-base64")]
    public void Missing_or_garbage_signature_is_invalid(string? signature)
    {
        Assert.False(validator.Validate(Url, Form, signature));
    }

    [Fact]
    public void Repeated_keys_are_all_signed_sorted_by_name_then_value()
    {
        KeyValuePair<string, string>[] parameters =
        [
            new("StatusCallbackEvent", "ringing"),
            new("From", "+15555550101"),
            new("StatusCallbackEvent", "answered"),
        ];

        // Computed by hand: the URL, then name+value pairs in ordinal order of name, then value.
        var data = Url + "From+15555550101" + "StatusCallbackEventanswered" + "StatusCallbackEventringing";
        var expected = HandSignature(data);

        Assert.Equal(expected, TwilioRequestSigner.Sign(Token, Url, parameters));
        Assert.True(validator.Validate(Url, parameters.Reverse(), expected));
        Assert.False(validator.Validate(Url, parameters.Take(2), expected));
    }

    [Fact]
    public void Parameter_names_sort_ordinally()
    {
        // Ordinal order puts upper case before lower case ("B" < "a"), as in Twilio's libraries.
        var data = Url + "B2" + "a1";
        var expected = HandSignature(data);
        Assert.Equal(expected, TwilioRequestSigner.Sign(Token, Url, new Dictionary<string, string> { ["a"] = "1", ["B"] = "2" }));
    }

    [Theory]
    [InlineData("https://hotline.example.org/twilio/voice", "https://hotline.example.org:443/twilio/voice")]
    [InlineData("https://hotline.example.org:443/twilio/voice", "https://hotline.example.org/twilio/voice")]
    [InlineData("http://localhost/twilio/voice?x=1", "http://localhost:80/twilio/voice?x=1")]
    [InlineData("http://localhost:80/twilio/voice", "http://localhost/twilio/voice")]
    [InlineData("https://hotline.example.org", "https://hotline.example.org:443")]
    public void Default_port_may_be_added_or_removed(string signedUrl, string receivedUrl)
    {
        var signature = TwilioRequestSigner.Sign(Token, signedUrl, Form);
        Assert.True(validator.Validate(receivedUrl, Form, signature));
    }

    [Fact]
    public void Non_default_port_is_never_dropped()
    {
        var signature = TwilioRequestSigner.Sign(Token, "https://hotline.example.org/twilio/voice", Form);
        Assert.False(validator.Validate("https://hotline.example.org:8443/twilio/voice", Form, signature));
    }

    [Fact]
    public void Json_body_with_matching_hash_is_valid_and_tampered_body_is_not()
    {
        const string body = """{"event":"example","sid":"EV1"}""";
        var url = TwilioRequestSigner.AppendBodySha256("https://hotline.example.org/twilio/events?source=x", body);
        var signature = TwilioRequestSigner.Sign(Token, url);

        Assert.Contains("?source=x&bodySHA256=", url, StringComparison.Ordinal);
        Assert.True(validator.ValidateWithBody(url, body, signature));
        Assert.True(validator.ValidateWithBody(url, Encoding.UTF8.GetBytes(body), signature));
        Assert.False(validator.ValidateWithBody(url, body.Replace("EV1", "EV2", StringComparison.Ordinal), signature));
        Assert.False(validator.ValidateWithBody(url, body, TwilioRequestSigner.Sign("another-token", url)));
    }

    [Fact]
    public void Json_body_without_bodySHA256_is_invalid()
    {
        const string url = "https://hotline.example.org/twilio/events";
        Assert.False(validator.ValidateWithBody(url, "{}", TwilioRequestSigner.Sign(Token, url)));
    }

    [SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "Twilio's protocol is HMAC-SHA1.")]
    private static string HandSignature(string data) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(Token), Encoding.UTF8.GetBytes(data)));
}
