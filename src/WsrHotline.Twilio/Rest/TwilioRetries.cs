using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace WsrHotline.Twilio;

/// <summary>
/// The retries of every request to Twilio's REST API (the SDK's and the media download), as a
/// resilience pipeline on their HttpClients: up to <see cref="TwilioOptions.MaxAttempts"/> attempts in
/// all, each bounded by <see cref="TwilioOptions.RequestTimeout"/>, with exponential backoff and jitter
/// from <see cref="TwilioOptions.RetryBaseDelay"/> (or Twilio's Retry-After), never longer than
/// <see cref="TwilioOptions.MaxRetryDelay"/>.
/// <para>
/// What is tried again depends on whether a repeat can do harm. A message (POST Messages.json) is sent
/// at most once: Twilio's Messages API has no idempotency key, so it is repeated only when Twilio
/// cannot have acted on it (a 429, or no connection made: <see cref="NoConnectionMade"/>); after a 5xx,
/// a timeout or a connection lost mid-request it may have gone out, and the sender fails it instead.
/// Anything else (placing or steering a call, a list, a download) is also repeated after a 5xx, a
/// network error or a timeout: a ringing phone twice is a smaller harm than none, and a GET changes
/// nothing. A URL the media host check refused is never tried again.
/// </para>
/// </summary>
public static partial class TwilioRetries
{
    /// <summary>
    /// The longest one call may take with all its attempts and waits: the <see cref="HttpClient.Timeout"/>
    /// of the clients, since the SDK takes no <see cref="CancellationToken"/>.
    /// </summary>
    public static TimeSpan CallTimeout(TwilioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var attempts = Math.Max(1, options.MaxAttempts);
        return options.RequestTimeout * attempts + options.MaxRetryDelay * (attempts - 1) + TimeSpan.FromSeconds(1);
    }

    /// <summary>Builds the pipeline (an <c>AddResilienceHandler</c> callback).</summary>
    public static void Configure(ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(context);
        var options = context.ServiceProvider.GetRequiredService<IOptions<TwilioOptions>>().Value;
        var logger = context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TwilioRetries));
        if (options.MaxAttempts > 1)
        {
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.MaxRetryDelay,
                ShouldRetryAfterHeader = false,
                // Twilio's Retry-After, capped like any other wait; else the backoff above.
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, options.MaxRetryDelay)),
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Context.GetRequestMessage(), args.Outcome)),
                OnRetry = args =>
                {
                    var operation = Operation(args.Context.GetRequestMessage());
                    var delayMs = (long)args.RetryDelay.TotalMilliseconds;
                    if (args.Outcome.Result is { } response)
                    {
                        LogRetryingAfterStatus(logger, operation, args.AttemptNumber + 1, (int)response.StatusCode, delayMs);
                    }
                    else
                    {
                        LogRetryingAfterError(logger, operation, args.AttemptNumber + 1, args.Outcome.Exception?.GetType().Name ?? "", delayMs);
                    }

                    return ValueTask.CompletedTask;
                },
            });
        }

        // Inside the retry, so it bounds each attempt (up to the response headers) and a slow one can be tried again.
        pipeline.AddTimeout(options.RequestTimeout);
    }

    /// <summary>Whether this request, with this outcome, is tried again (see the class summary).</summary>
    public static bool ShouldRetry(HttpRequestMessage? request, Outcome<HttpResponseMessage> outcome)
    {
        var sentAtMostOnce = request is null || IsMessagePost(request);
        if (outcome.Result is { } response)
        {
            return response.StatusCode == HttpStatusCode.TooManyRequests
                || (!sentAtMostOnce && (int)response.StatusCode >= 500);
        }

        return outcome.Exception switch
        {
            HttpRequestException { InnerException: TwilioUrlRefusedException } => false,
            HttpRequestException http => !sentAtMostOnce || NoConnectionMade(http),
            TimeoutRejectedException => !sentAtMostOnce,
            _ => false,
        };
    }

    /// <summary>POST …/Messages.json: creates a message, which must not be created twice.</summary>
    public static bool IsMessagePost(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Method == HttpMethod.Post
            && request.RequestUri?.AbsolutePath.EndsWith("/Messages.json", StringComparison.Ordinal) == true;
    }

    /// <summary>
    /// Whether no request was sent: the name did not resolve, the connection or the TLS handshake failed.
    /// A connection lost after that, or a timeout, may have delivered it.
    /// </summary>
    public static bool NoConnectionMade(HttpRequestException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.HttpRequestError is HttpRequestError.NameResolutionError
            or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError;
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeSpan max)
    {
        var retryAfter = response?.Headers.RetryAfter;
        TimeSpan? wait = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        return wait is { } value ? TimeSpan.FromTicks(Math.Clamp(value.Ticks, 0, max.Ticks)) : null;
    }

    /// <summary>The method and the resource, e.g. <c>POST Messages.json</c>: never a query, which may hold a number.</summary>
    private static string Operation(HttpRequestMessage? request) =>
        request?.RequestUri is { } uri ? $"{request.Method} {uri.Segments[^1]}" : "request";

    [LoggerMessage(EventId = 7201, EventName = "TwilioApiRetryingAfterStatus", Level = LogLevel.Warning,
        Message = "Twilio API {Operation} attempt {Attempt} got HTTP {StatusCode}; retrying in {DelayMs} ms")]
    private static partial void LogRetryingAfterStatus(ILogger logger, string operation, int attempt, int statusCode, long delayMs);

    [LoggerMessage(EventId = 7202, EventName = "TwilioApiRetryingAfterError", Level = LogLevel.Warning,
        Message = "Twilio API {Operation} attempt {Attempt} failed with {ErrorType}; retrying in {DelayMs} ms")]
    private static partial void LogRetryingAfterError(ILogger logger, string operation, int attempt, string errorType, long delayMs);
}
