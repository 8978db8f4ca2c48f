using System.Text.Json;
using WsrHotline.Simulator;

namespace WsrHotline.Twilio.Tests;

/// <summary>
/// Signatures computed by Twilio's official Node.js library validate through Twilio's .NET
/// <c>RequestValidator</c> as the hotline calls it, and the simulator's signer computes the same ones.
/// </summary>
public class SignatureVectorTests
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static TheoryData<string> VectorNames()
    {
        var names = new TheoryData<string>();
        foreach (var vector in LoadVectors())
        {
            names.Add(vector.Name);
        }

        return names;
    }

    [Fact]
    public void Vector_file_is_not_empty()
    {
        Assert.True(LoadVectors().Count >= 5);
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Official_vector_validates_and_signs_identically(string name)
    {
        var vector = LoadVectors().Single(v => v.Name == name);
        if (vector.ValidBody)
        {
            Assert.NotNull(vector.Body);
            Assert.True(TwilioRequestValidation.IsSignedWithBody(vector.Token, vector.Url, System.Text.Encoding.UTF8.GetBytes(vector.Body), vector.Signature));
            Assert.True(new global::Twilio.Security.RequestValidator(vector.Token).Validate(vector.Url, vector.Body, vector.Signature));
            Assert.Equal(vector.Signature, TwilioRequestSigner.Sign(vector.Token, vector.Url));
            Assert.Equal(vector.Url, TwilioRequestSigner.AppendBodySha256(vector.Url[..vector.Url.IndexOf('?', StringComparison.Ordinal)], vector.Body));
        }
        else
        {
            var parameters = vector.Params ?? [];
            Assert.True(TwilioRequestValidation.IsSigned(vector.Token, vector.Url, parameters, vector.Signature));
            // Twilio's validator alone, as the library documents it, with no help from the hotline.
            Assert.True(new global::Twilio.Security.RequestValidator(vector.Token).Validate(vector.Url, parameters, vector.Signature));
            Assert.Equal(vector.Signature, TwilioRequestSigner.Sign(vector.Token, vector.Url, parameters));
        }

        if (vector.ValidWithoutPort)
        {
            var withoutPort = vector.Url.Replace(":443", "", StringComparison.Ordinal);
            Assert.NotEqual(vector.Url, withoutPort);
            Assert.True(TwilioRequestValidation.IsSigned(vector.Token, withoutPort, vector.Params ?? [], vector.Signature));
        }
    }

    private static List<SignatureVector> LoadVectors()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestData", "signature-vectors.json");
        var file = JsonSerializer.Deserialize<VectorFile>(File.ReadAllText(path), JsonOptions);
        return file?.Vectors ?? [];
    }

    private sealed record VectorFile(List<SignatureVector> Vectors);

    private sealed record SignatureVector(
        string Name,
        string Token,
        string Url,
        Dictionary<string, string>? Params,
        string? Body,
        string Signature,
        bool ValidWithoutPort,
        bool ValidBody);
}
