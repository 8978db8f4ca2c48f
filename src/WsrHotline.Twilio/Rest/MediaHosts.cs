using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace WsrHotline.Twilio;

/// <summary>
/// Where the REST client may connect, and where a media download may go. A worker's attachment URL
/// comes from a webhook, so it is not trusted: it is fetched (and each redirect followed) only on
/// https from the hosts of <see cref="TwilioOptions.MediaAllowedHosts"/>, or under the configured
/// <see cref="TwilioOptions.ApiBaseUrl"/> (same scheme, host, port and path prefix: the simulator's
/// stand-in in the local run and the tests). At connect time, a host that resolves to a loopback,
/// private, link-local or otherwise non-public address is refused (a name that passed the list but
/// was rebound in DNS to an internal address), unless it is the ApiBaseUrl's own host and port.
/// </summary>
public sealed class MediaHosts
{
    private readonly Uri apiBase;
    private readonly string[] patterns;

    public MediaHosts(IOptions<TwilioOptions> options)
        : this(new Uri((options ?? throw new ArgumentNullException(nameof(options))).Value.ApiBaseUrl.TrimEnd('/') + "/"), options.Value.MediaAllowedHosts)
    {
    }

    /// <param name="apiBase">The REST API's base address (ends with a slash).</param>
    /// <param name="allowedHosts"><see cref="TwilioOptions.MediaAllowedHosts"/>.</param>
    public MediaHosts(Uri apiBase, string allowedHosts)
    {
        ArgumentNullException.ThrowIfNull(apiBase);
        this.apiBase = apiBase;
        patterns = ParsePatterns(allowedHosts);
    }

    /// <summary>The host patterns of a setting: <c>api.twilio.com</c> or <c>*.twiliocdn.com</c>, comma-separated.</summary>
    public static string[] ParsePatterns(string? setting) =>
        [.. (setting ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant())];

    /// <summary>Whether a pattern is a DNS name (or <c>*.</c> and one), never an address or a bare wildcard.</summary>
    public static bool IsValidPattern(string pattern)
    {
        var name = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern;
        return name.Contains('.', StringComparison.Ordinal)
            && Uri.CheckHostName(name) == UriHostNameType.Dns
            && !IPAddress.TryParse(name, out _);
    }

    /// <summary>Why a media URL may not be fetched, or null when it may.</summary>
    public string? Refusal(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri || !string.IsNullOrEmpty(url.UserInfo))
        {
            return "url";
        }

        if (IsUnderApiBase(url))
        {
            return null;
        }

        if (url.Scheme != Uri.UriSchemeHttps)
        {
            return "scheme";
        }

        // An address literal is never on the list, whatever its spelling (Uri has already read 2130706433 or 0x7f000001 as 127.0.0.1).
        if (url.HostNameType != UriHostNameType.Dns || !url.IsDefaultPort)
        {
            return "host";
        }

        var host = url.IdnHost.TrimEnd('.').ToLowerInvariant();
        return patterns.Any(pattern => Matches(pattern, host)) ? null : "host";
    }

    // An escaped dot or slash could climb out of the base path once the server decodes it.
    private bool IsUnderApiBase(Uri url) =>
        Uri.Compare(url, apiBase, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0
        && url.AbsolutePath.StartsWith(apiBase.AbsolutePath, StringComparison.Ordinal)
        && !url.AbsolutePath.Contains("%2e", StringComparison.OrdinalIgnoreCase)
        && !url.AbsolutePath.Contains("%2f", StringComparison.OrdinalIgnoreCase)
        && !url.AbsolutePath.Contains("%5c", StringComparison.OrdinalIgnoreCase);

    private static bool Matches(string pattern, string host) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(pattern[1..], StringComparison.Ordinal) && host.Length > pattern.Length - 1
            : host == pattern;

    /// <summary>
    /// <see cref="SocketsHttpHandler.ConnectCallback"/>: resolves the host itself and connects only if
    /// every address it resolves to is public (or the host and port are the ApiBaseUrl's), so a name
    /// that passed the list cannot reach the hotline's own network. Throws <see cref="TwilioUrlRefusedException"/>
    /// before any connection is made.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var endpoint = context.DnsEndPoint;
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        var isApiBase = string.Equals(endpoint.Host.Trim('[', ']'), apiBase.IdnHost.Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
            && endpoint.Port == apiBase.Port;
        if (addresses.Length == 0 || (!isApiBase && !addresses.All(IsPublic)))
        {
            throw new TwilioUrlRefusedException("address");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether an address is on the public internet: not loopback, unspecified, private (RFC 1918, IPv6
    /// unique local), carrier-grade NAT, link-local (the cloud metadata service's 169.254.169.254
    /// included), documentation, benchmarking, multicast or reserved; IPv4 inside IPv6 is judged as IPv4.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224
                || (b[0] == 100 && b[1] is >= 64 and <= 127)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 172 && b[1] is >= 16 and <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2)
                || (b[0] == 198 && b[1] is 18 or 19)
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)
                || (b[0] == 203 && b[1] == 0 && b[2] == 113));
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        var v6 = address.GetAddressBytes();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6Any) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal
            || address.IsIPv6UniqueLocal || address.IsIPv6Multicast || (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0d && v6[3] == 0xb8))
        {
            return false;
        }

        // IPv4 carried in IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the deprecated IPv4-compatible ::a.b.c.d.
        if (v6[0] == 0 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b && v6[4..12].All(x => x == 0))
        {
            return IsPublic(new IPAddress(v6[12..16]));
        }

        if (v6[0] == 0x20 && v6[1] == 0x02)
        {
            return IsPublic(new IPAddress(v6[2..6]));
        }

        if (v6[..12].All(x => x == 0))
        {
            return false;
        }

        // Only global unicast (2000::/3) is routed on the internet.
        return (v6[0] & 0xE0) == 0x20;
    }
}

/// <summary>
/// A URL the REST client refused to fetch, before any connection: <see cref="Reason"/> is <c>scheme</c>
/// (not https), <c>host</c> (not an allowed media host), <c>address</c> (resolves to an internal
/// address), <c>redirects</c> (too many) or <c>url</c> (not an absolute URL, or one with a user name).
/// The message never holds the URL.
/// </summary>
public sealed class TwilioUrlRefusedException : Exception
{
    public TwilioUrlRefusedException()
        : this("url")
    {
    }

    public TwilioUrlRefusedException(string reason)
        : base($"The URL was refused before it was fetched ({reason}).") => Reason = reason;

    public TwilioUrlRefusedException(string message, Exception innerException)
        : base(message, innerException) => Reason = "url";

    public string Reason { get; }
}
