using System.Globalization;
using System.Net;

namespace OpenCM.Acme.Challenges;

/// <summary>
/// How OpenCM reaches what an ACME client publishes (issue #24.4, RFC 8555 §8.3-8.4). The defaults
/// are the RFC's; the two settings exist for tests and unusual networks (docs/configuration.md).
/// </summary>
public sealed class AcmeValidationOptions
{
    public const string Section = "Acme";

    /// <summary>The port http-01 connects to. RFC 8555 §8.3 says 80; a test's client listens elsewhere.</summary>
    public int Http01Port { get; set; } = 80;

    /// <summary>
    /// A DNS server, <c>address[:port]</c> (<c>127.0.0.1:8053</c>, <c>[::1]:8053</c>), asked for
    /// dns-01's TXT and for http-01's A/AAAA. Unset: the system's resolver (<c>/etc/resolv.conf</c>
    /// for TXT; the operating system's lookup, hosts file included, for addresses).
    /// </summary>
    public string? Dns01Resolver { get; set; }

    /// <summary>How long one validation (its DNS queries, connection and response) may take.</summary>
    public int ValidationTimeoutSeconds { get; set; } = 10;

    /// <summary>The configured resolver's endpoint, or null for the system's; refuses what is not an address.</summary>
    internal IPEndPoint? ResolverEndPoint()
    {
        if (string.IsNullOrWhiteSpace(Dns01Resolver))
        {
            return null;
        }

        var text = Dns01Resolver.Trim();
        // "127.0.0.1", "::1", "[::1]" name no port (53); IPAddress.TryParse would also take "[::1]:8053" and drop its port.
        return IPEndPoint.TryParse(text, out var endPoint) && !text.EndsWith(":0", StringComparison.Ordinal)
            ? endPoint.Port == 0 ? new IPEndPoint(endPoint.Address, 53) : endPoint
            : throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"Acme:Dns01Resolver '{text}' is not an IP address with an optional port (127.0.0.1:8053, [::1]:8053)."));
    }

    internal void Validate()
    {
        if (Http01Port is < 1 or > 65535)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Acme:Http01Port {Http01Port} is not a TCP port (1-65535)."));
        }

        if (ValidationTimeoutSeconds is < 1 or > 300)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Acme:ValidationTimeoutSeconds {ValidationTimeoutSeconds} is outside 1-300."));
        }

        _ = ResolverEndPoint();
    }
}
