using System.Text.Json;

namespace WsrHotline.Twilio.Tests;

/// <summary>Signatures computed by Twilio's official Node.js library must validate here too.</summary>
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
        var validator = new TwilioRequestValidator(vector.Token);

        if (vector.ValidBody)
        {
            Assert.NotNull(vector.Body);
            Assert.True(validator.ValidateWithBody(vector.Url, vector.Body, vector.Signature));
            Assert.Equal(vector.Signature, TwilioRequestSigner.Sign(vector.Token, vector.Url));
            Assert.Equal(vector.Url, TwilioRequestSigner.AppendBodySha256(vector.Url[..vector.Url.IndexOf('?', StringComparison.Ordinal)], vector.Body));
        }
        else
        {
            var parameters = vector.Params ?? [];
            Assert.True(validator.Validate(vector.Url, parameters, vector.Signature));
            Assert.Equal(vector.Signature, TwilioRequestSigner.Sign(vector.Token, vector.Url, parameters));
        }

        if (vector.ValidWithoutPort)
        {
            var withoutPort = vector.Url.Replace(":443", "", StringComparison.Ordinal);
            Assert.NotEqual(vector.Url, withoutPort);
            Assert.True(validator.Validate(withoutPort, vector.Params ?? [], vector.Signature));
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
