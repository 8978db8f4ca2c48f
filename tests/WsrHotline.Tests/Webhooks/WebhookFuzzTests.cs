using System.Globalization;
using System.Net;
using System.Text;
using CsCheck;
using Dapper;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Ivr;
using WsrHotline.Simulator;
using WsrHotline.Spool;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Webhooks;

/// <summary>
/// Property-based fuzzing of every Twilio-facing endpoint: each endpoint the EndpointDataSource lists
/// with <see cref="TwilioSignatureRequired"/> (so a new one is covered without touching this test), on
/// a real Kestrel (where the body cap is real), over a real database. Random and malformed forms,
/// signed and unsigned: url-encoded, multipart (whole or broken), other charsets, JSON with
/// bodySHA256, empty and text bodies; chunked or with a Content-Length; repeated keys; huge and empty
/// values; NUL bytes; odd SIDs, statuses and Digits; media URLs; odd query strings and route values.
/// <para>
/// Every answer: never a 5xx. Unsigned or wrongly signed: 403 (413 when the Content-Length is over the
/// cap, which is refused first). Signed and readable: never 403 or 413; 400 exactly when a value is
/// impossible (<see cref="TwilioWebhookValues"/>) or the body is not a form. No error-level log line.
/// </para>
/// <para>
/// Nothing half-stored, checked in the database after the run, once the inbox and the voice spool are
/// drained: no inbox row failed or left; no spool file left or set aside (a voice webhook the app took
/// in must be storable); every complaint has its timeline and the call or message it came from; a call
/// has both its recording SID and address or neither; every inbound message has its caller identity;
/// every stored SID is one Twilio could have sent.
/// </para>
/// <para>
/// CI runs <see cref="DefaultIterations"/> cases (about 20 s); set <c>WSR_FUZZ_ITERATIONS</c> for a
/// longer run, e.g. <c>WSR_FUZZ_ITERATIONS=50000 ops/test.sh --filter FullyQualifiedName~WebhookFuzzTests</c>;
/// <c>WSR_FUZZ_SEED</c> replays the seed a failure printed.
/// </para>
/// </summary>
public sealed class WebhookFuzzTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const int DefaultIterations = 2000;
    private const string PublicBase = "https://hotline.test";
    private const long Cap = TwilioEndpointExtensions.MaxBodyBytes;

    private static readonly string[] SidPrefixes = ["CA", "SM", "MM", "RE", "AC", "QU", "MG"];

    private static readonly string[] VoiceNames =
    [
        "CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "Digits", "SpeechResult", "RecordingSid",
        "RecordingUrl", "RecordingStatus", "RecordingDuration", "DialCallStatus", "DialCallSid", "QueueResult",
        "QueueTime", "CallDuration", "ParentCallSid", "CallerName",
    ];

    private static readonly string[] MessagingNames =
    [
        "MessageSid", "SmsMessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
        "MediaUrl1", "MediaContentType1", "MessageStatus", "SmsStatus", "ErrorCode", "ProfileName", "WaId",
    ];

    public enum Shape { UrlEncoded, Multipart, BrokenMultipart, OtherCharset, Json, Empty, Text }

    public enum Signing { None, Valid, Wrong }

    public sealed record FuzzCase(
        string Method, string Path, string Query, List<KeyValuePair<string, string>> Fields, Shape Shape, string Charset, Signing Signing, bool Chunked)
    {
        public override string ToString() =>
            $"{Method} {Path}{Query} {Shape}{(Shape == Shape.OtherCharset ? " " + Charset : "")} {Signing}{(Chunked ? " chunked" : "")} "
            + string.Join("&", Fields.Select(f => $"{Shown(f.Key)}={Shown(f.Value)}"));

        private static string Shown(string text) =>
            (text.Length > 60 ? text[..30] + $"…({text.Length} chars)" : text).Replace("\0", "\\0", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_twilio_endpoint_survives_random_and_malformed_webhooks()
    {
        var iterations = int.TryParse(Environment.GetEnvironmentVariable("WSR_FUZZ_ITERATIONS"), CultureInfo.InvariantCulture, out var n) ? n : DefaultIterations;
        var port = TestHostOptions.FreeLoopbackPort();
        await using var factory = new HotlineFactory(new TestHostOptions(database.ConnectionString)
        {
            LoopbackPort = port,
            Settings = settings =>
            {
                // Nothing may leave the machine: the REST API (ringing investigators) points at a closed port.
                settings["Twilio:ApiBaseUrl"] = "http://127.0.0.1:9";
                settings["Twilio:MaxAttempts"] = "1";
                // Replayed texts are due at once, so the inbox can be drained right after the replay below.
                settings["Spool:ReplaySettle"] = "00:00:00";
            },
        });
        factory.StartServer();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal(HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);

        var endpoints = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => endpoint.Metadata.GetMetadata<TwilioSignatureRequired>() is not null)
            .SelectMany(endpoint => (endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["POST"])
                .Select(method => (Method: method, Pattern: endpoint.RoutePattern)))
            .ToArray();
        // The voice and messaging webhooks at least: a guard against finding none and testing nothing.
        Assert.True(endpoints.Length >= 20, $"found only {endpoints.Length} Twilio endpoints");
        var steps = factory.Services.GetRequiredService<IvrFlowProvider>().Current.Steps.Keys.ToArray();

        var gen =
            from endpoint in Gen.OneOf(endpoints)
            from routeValues in Gen.OneOf([.. steps, "no-such-step", "a b", "%C3%A9"]).Array[endpoint.Pattern.Parameters.Count]
            from query in Gen.OneOf("", "", "?lang=es", "?lang=bn&attempt=2", "?leg=7", "?leg=x", "?case=12345674", "?lang=%00", "?lang=" + new string('e', 3000))
            from fields in FieldsGen(endpoint.Pattern.RawText!.Contains("messaging", StringComparison.Ordinal))
            from shape in Gen.Frequency((12, Gen.Const(Shape.UrlEncoded)), (4, Gen.Const(Shape.Multipart)), (1, Gen.Const(Shape.BrokenMultipart)),
                (1, Gen.Const(Shape.OtherCharset)), (1, Gen.Const(Shape.Json)), (1, Gen.Const(Shape.Empty)), (1, Gen.Const(Shape.Text)))
            from charset in Gen.OneOf("utf-7", "iso-8859-1", "utf-16", "no-such-charset")
            from signing in Gen.Frequency((6, Gen.Const(Signing.Valid)), (2, Gen.Const(Signing.None)), (2, Gen.Const(Signing.Wrong)))
            from chunked in Gen.Bool
            select new FuzzCase(endpoint.Method, Path(endpoint.Pattern, routeValues), query, fields, shape, charset, signing, chunked);

        await gen.SampleAsync(c => SendAndCheckAsync(client, c), iter: iterations, threads: 2,
            seed: Environment.GetEnvironmentVariable("WSR_FUZZ_SEED"), print: c => c.ToString());

        Assert.DoesNotContain(factory.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal));
        await AssertNothingHalfStoredAsync(factory);
    }

    private static async Task SendAndCheckAsync(HttpClient client, FuzzCase c)
    {
        var url = PublicBase + c.Path + c.Query;
        var (content, length) = Content(c, ref url);
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path + url[(PublicBase.Length + c.Path.Length)..]) { Content = content };
        var signature = c.Signing switch
        {
            Signing.None => null,
            Signing.Wrong => TwilioRequestSigner.Sign("not-the-auth-token", url, c.Fields),
            _ when c.Shape is Shape.Json or Shape.Empty => TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, url),
            _ => TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, url, c.Fields),
        };
        if (signature is not null)
        {
            request.Headers.Add(TwilioRequestSigner.SignatureHeader, signature);
        }

        using var response = await client.SendAsync(request);
        var status = (int)response.StatusCode;
        // A body over the cap is always sent with its Content-Length (Content sends only smaller ones chunked).
        var overByLength = length > Cap;
        // Twilio sends url-encoded forms; a multipart one counts as readable when it has parts with plain names
        // (an empty multipart body, or a part named "" or with a NUL, is a form that cannot be read: 403).
        // A name over the form's key limit makes the form unreadable too (the fields are far fewer than its count limit).
        var readableForm = length <= Cap && !c.Path.Contains(' ', StringComparison.Ordinal)
            && c.Fields.All(f => f.Key.Length <= TwilioEndpointExtensions.MaxFormKeyLength) && (c.Shape is Shape.UrlEncoded
            || c.Shape is Shape.Multipart && c.Fields.Count > 0 && c.Fields.All(f => f.Key.Length > 0 && !f.Key.Contains('\0', StringComparison.Ordinal)));

        Assert.True(status < 500, $"{status} for {c}");
        if (c.Signing != Signing.Valid)
        {
            Assert.True(status == (overByLength ? 413 : 403), $"{status} (expected {(overByLength ? 413 : 403)}) for {c}");
        }
        else if (readableForm)
        {
            var impossible = TwilioWebhookValues.FindImpossible(
                c.Fields.GroupBy(f => f.Key).Select(g => KeyValuePair.Create(g.Key, new Microsoft.Extensions.Primitives.StringValues([.. g.Select(f => f.Value)]))),
                Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(c.Query));
            Assert.True(status is not (403 or 413), $"{status} for a signed, readable {c}");
            if (impossible is not null)
            {
                Assert.True(status == 400, $"{status} (expected 400: {impossible}) for {c}");
            }
        }
        else if (c.Shape is Shape.Json or Shape.Empty && !overByLength)
        {
            Assert.True(status == 400, $"{status} (expected 400: not a form) for {c}");
        }
    }

    /// <summary>The request body for the case; a JSON body also adds bodySHA256 to the URL Twilio signs.</summary>
    private static (HttpContent? Content, long Length) Content(FuzzCase c, ref string url)
    {
        HttpContent? content;
        switch (c.Shape)
        {
            case Shape.UrlEncoded:
                content = new FormUrlEncodedContent(c.Fields);
                break;
            case Shape.Multipart:
                // Written out by hand: HttpClient's MultipartFormDataContent refuses names Twilio's callers may not, but an attacker may, send.
                var multipart = new StringBuilder();
                foreach (var (name, value) in c.Fields)
                {
                    multipart.Append("--fuzz-boundary\r\nContent-Disposition: form-data; name=\"").Append(name).Append("\"\r\n\r\n").Append(value).Append("\r\n");
                }
                multipart.Append("--fuzz-boundary--\r\n");
                content = Raw(Encoding.UTF8.GetBytes(multipart.ToString()), "multipart/form-data; boundary=fuzz-boundary");
                break;
            case Shape.BrokenMultipart:
                content = Raw(Encoding.UTF8.GetBytes("--b\r\nContent-Disposition: form-data; name=\"" + c.Fields.FirstOrDefault().Key + "\"\r\n\r\nx\r\n--"),
                    "multipart/form-data; boundary=b");
                break;
            case Shape.OtherCharset:
                var encoded = new FormUrlEncodedContent(c.Fields).ReadAsStringAsync().GetAwaiter().GetResult();
                content = Raw(Encoding.ASCII.GetBytes(encoded), "application/x-www-form-urlencoded; charset=" + c.Charset);
                break;
            case Shape.Json:
                var json = System.Text.Json.JsonSerializer.Serialize(c.Fields.GroupBy(f => f.Key).ToDictionary(g => g.Key, g => g.Last().Value));
                url = TwilioRequestSigner.AppendBodySha256(url, json);
                content = Raw(Encoding.UTF8.GetBytes(json), "application/json");
                break;
            case Shape.Text:
                content = Raw(Encoding.UTF8.GetBytes(string.Concat(c.Fields.Select(f => f.Value))), "text/plain");
                break;
            default:
                return (null, 0);
        }
        var bytes = content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
        var type = content.Headers.ContentType;
        content.Dispose();
        var copy = c.Chunked && bytes.Length <= Cap ? new StreamContent(new MemoryStream(bytes)) : (HttpContent)new ByteArrayContent(bytes);
        copy.Headers.ContentType = type;
        return (copy, bytes.Length);
    }

    private static ByteArrayContent Raw(byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    private static Gen<List<KeyValuePair<string, string>>> FieldsGen(bool messaging)
    {
        var names = messaging ? MessagingNames : VoiceNames;
        var field =
            from name in Gen.Frequency((20, Gen.OneOf(names)), (1, Gen.OneOf("", "Sid", new string('K', 200), "Na\0me", "Ключ", "MediaUrl9")))
            from value in ValueGen(name)
            select KeyValuePair.Create(name, value);
        // Usually the endpoint's key fields, sometimes repeated, plus a random handful.
        return
            from key in Gen.Bool
            from extra in field.List[0, 8]
            from repeat in Gen.Int[0, 6]
            from keyFields in Gen.Select(ValueGen(messaging ? "MessageSid" : "CallSid"), ValueGen("From"), ValueGen("To"))
            select Combine(messaging, key, keyFields, extra, repeat);
    }

    private static List<KeyValuePair<string, string>> Combine(
        bool messaging, bool withKeyFields, (string Sid, string From, string To) key, List<KeyValuePair<string, string>> extra, int repeat)
    {
        var fields = new List<KeyValuePair<string, string>>();
        if (withKeyFields)
        {
            fields.Add(KeyValuePair.Create(messaging ? "MessageSid" : "CallSid", key.Sid));
            fields.Add(KeyValuePair.Create("From", key.From));
            fields.Add(KeyValuePair.Create("To", key.To));
        }
        fields.AddRange(extra);
        if (repeat < fields.Count && repeat == 0)
        {
            fields.Add(fields[0]);
        }
        return fields;
    }

    private static Gen<string> ValueGen(string name)
    {
        var junk = Gen.Frequency(
            (4, Gen.Const("")),
            (2, Gen.Const("\0")),
            (3, Gen.String[Gen.Char["ab\0 %&=+é٣😀\r\n"], 0, 12]),
            (1, Gen.Int[60_000, 70_000].Select(size => new string('x', size))));
        Gen<string> genuine = name switch
        {
            _ when name.EndsWith("Sid", StringComparison.Ordinal) => Gen.Frequency(
                (6, from prefix in Gen.OneOf(SidPrefixes) from hex in Gen.String[Gen.Char["0123456789abcdef"], 32, 32] select prefix + hex),
                (2, Gen.OneOf("CA1", "SMshort", "CA0123456789abcdef0123456789abcdef0", "CA-1", "CA 1", "ca٣")),
                (1, Gen.Int[1, 99].Select(i => "SMfuzz" + i.ToString(CultureInfo.InvariantCulture)))),
            "From" => Gen.OneOf("+15555550123", "+15555550124", "whatsapp:+15555550125", "Anonymous", "client:worker", "+266696687", "12345", "+1 (555) 555-0126"),
            "To" => Gen.OneOf("+18005550100", "+18005550101", "whatsapp:+18005550102", "+15555550199"),
            "CallStatus" or "DialCallStatus" or "MessageStatus" or "SmsStatus" or "RecordingStatus" or "QueueResult" => Gen.OneOf(
                "queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled", "sent", "delivered", "undelivered",
                "read", "absent", "bridged", "hangup", "leave", "COMPLETED", "no answer", "partially_delivered", new string('s', 33)),
            "Digits" => Gen.OneOf("1", "2", "3", "4", "9", "0", "*", "#", "12345674", "1234", "hangup", "١", "99999999999999999999", "1 2"),
            "Body" => Gen.OneOf("Hola, necesito ayuda", "STATUS", "STATUS 12345674 1234", "STOP", "START", "NEW", "1", "আমাকে সাহায্য করুন",
                "😀😀", "Le patron ne paie pas", new string('ব', 4096)),
            _ when name.StartsWith("MediaUrl", StringComparison.Ordinal) || name == "RecordingUrl" => Gen.OneOf(
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                "javascript:alert(1)", "not a url", "https://api.twilio.com/" + new string('a', 5000)),
            _ when name.StartsWith("MediaContentType", StringComparison.Ordinal) => Gen.OneOf("image/jpeg", "audio/ogg", "application/x-msdownload", "text/html; x=\"", "*/*"),
            "NumMedia" or "ErrorCode" or "QueueTime" or "CallDuration" or "RecordingDuration" => Gen.OneOf("0", "1", "2", "10", "11", "-1", "21610", "99999999999", "1e3", "abc"),
            _ => Gen.String[Gen.Char.AlphaNumeric, 0, 20],
        };
        return Gen.Frequency((5, genuine), (1, junk));
    }

    private static string Path(Microsoft.AspNetCore.Routing.Patterns.RoutePattern pattern, string[] values)
    {
        var path = pattern.RawText!;
        for (var i = 0; i < pattern.Parameters.Count; i++)
        {
            path = path.Replace("{" + pattern.Parameters[i].Name + "}", Uri.EscapeDataString(values[i]), StringComparison.Ordinal);
        }
        return path.StartsWith('/') ? path : "/" + path;
    }

    private static async Task AssertNothingHalfStoredAsync(HotlineFactory factory)
    {
        var dataSource = factory.Services.GetRequiredService<NpgsqlDataSource>();
        var spool = factory.Services.GetRequiredService<WebhookSpool>();
        await factory.Services.GetRequiredService<SpoolReplayer>().ReplayPendingAsync(CancellationToken.None);
        await InboxWait.DrainedAsync(dataSource);
        var counts = spool.Count();
        Assert.True(counts.Waiting == 0, $"{counts.Waiting} spool file(s) could not be replayed: a webhook was taken in that cannot be stored");
        Assert.True(counts.SetAside == 0, $"{counts.SetAside} spool file(s) set aside: a webhook was taken in that can never be stored");

        await using var connection = await dataSource.OpenConnectionAsync();
        async Task NoneAsync(string what, string sql)
        {
            var found = await connection.ExecuteScalarAsync<long>(sql);
            Assert.True(found == 0, $"{found} {what}");
        }
        await NoneAsync("inbox row(s) failed or left", "SELECT count(*) FROM inbound_inbox");
        await NoneAsync("complaint(s) without a timeline",
            "SELECT count(*) FROM complaints c WHERE NOT EXISTS (SELECT 1 FROM case_timeline t WHERE t.complaint_id = c.id)");
        await NoneAsync("voice complaint(s) without their call",
            "SELECT count(*) FROM complaints c WHERE c.channel = 'voice' AND NOT EXISTS (SELECT 1 FROM calls k WHERE k.complaint_id = c.id)");
        await NoneAsync("text complaint(s) without their message",
            "SELECT count(*) FROM complaints c WHERE c.channel IN ('sms', 'whatsapp') AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.complaint_id = c.id)");
        await NoneAsync("call(s) with a recording SID but no address, or the reverse",
            "SELECT count(*) FROM calls WHERE (recording_sid IS NULL) <> (recording_url_encrypted IS NULL)");
        await NoneAsync("inbound message(s) without their caller identity",
            "SELECT count(*) FROM messages WHERE direction = 'inbound' AND caller_identity_id IS NULL");
        var sids = (await connection.QueryAsync<string>(
            "SELECT call_sid FROM calls UNION ALL SELECT message_sid FROM messages WHERE direction = 'inbound' UNION ALL SELECT recording_sid FROM calls WHERE recording_sid IS NOT NULL")).ToList();
        Assert.All(sids, sid => Assert.True(TwilioWebhookValues.CouldBeGenuine("CallSid", sid) && sid.Length > 0, $"stored SID '{sid}'"));
        Assert.NotEmpty(sids);
    }
}
