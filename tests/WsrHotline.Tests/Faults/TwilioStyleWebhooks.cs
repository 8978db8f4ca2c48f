using System.Net;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Faults;

/// <summary>
/// Sends webhooks the way Twilio does, signed for https://hotline.test, to instances behind what
/// stands for a load balancer. What is modelled:
/// <list type="bullet">
/// <item>Voice: Twilio retries a webhook whose connection failed or that got no answer in time
/// (connection overrides <c>#rc</c>/<c>#rp=ct,rt</c>); here the retry goes to the next instance, as a
/// load balancer's health check would send it.</item>
/// <item>Messaging: Twilio does not retry a webhook that was answered, 5xx included; a connection that
/// fails or drops without an answer is retried on the next instance here, as a load balancer fails
/// over a request it could not deliver.</item>
/// </list>
/// So an answered request (any status) is never sent again; only one that got no answer is.
/// </summary>
public sealed class TwilioStyleWebhooks(Func<int, Uri?> instance, int instances) : IDisposable
{
    /// <summary>Twilio's default webhook timeout is 15 s.</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(15);

    public const int MaxAttempts = 6;

    private readonly HttpClient client = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) }) { Timeout = Timeout.InfiniteTimeSpan };
    private int retries;

    /// <summary>Requests sent again after a failed connection or no answer.</summary>
    public int Retries => retries;

    /// <summary>Posts to the preferred instance, then, for a request that got no answer, to the next ones.</summary>
    public async Task<HttpStatusCode?> PostAsync(int preferred, string path, params (string Name, string Value)[] fields)
    {
        var form = fields.Select(field => KeyValuePair.Create(field.Name, field.Value)).ToList();
        var signature = TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, "https://hotline.test" + path, form);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref retries);
            }
            if (instance((preferred + attempt) % instances) is not { } target)
            {
                continue;
            }
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(target, path)) { Content = new FormUrlEncodedContent(form) };
            request.Headers.Add(TwilioRequestSigner.SignatureHeader, signature);
            using var timeout = new CancellationTokenSource(AnswerTimeout);
            try
            {
                using var response = await client.SendAsync(request, timeout.Token);
                await response.Content.ReadAsByteArrayAsync(timeout.Token);
                return response.StatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                // No answer: refused, reset, or timed out. Try the next instance.
            }
        }
        return null;
    }

    public void Dispose() => client.Dispose();
}
