using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using DnsClient;
using DnsClient.Protocol;
using OpenCM.Application;

namespace OpenCM.Acme.Challenges;

/// <summary>
/// Validates ACME http-01 (RFC 8555 §8.3) and dns-01 (§8.4) challenges for real: fetches the token
/// over plain HTTP from the name's own addresses, or asks DNS for the TXT record. Every failure,
/// hostile answers included, is a failed <see cref="ChallengeCheck"/> with an ACME problem type,
/// never an exception (only the caller's own cancellation throws). See docs/acme.md, "Challenge validation".
/// </summary>
public sealed class AcmeChallengeValidator : IAcmeChallengeValidator
{
    /// <summary>The largest http-01 body read: a key authorization is under 100 characters.</summary>
    public const int MaxBodyBytes = 8 * 1024;

    // Longest key authorization or token taken (RFC 8555 §8.1: base64url token "." base64url thumbprint).
    private const int MaxKeyAuthorizationLength = 512;

    // TXT records examined at most: a name answering thousands is refused, not compared one by one.
    private const int MaxTxtRecords = 100;

    private const string ProblemPrefix = "urn:ietf:params:acme:error:";
    private const string Connection = ProblemPrefix + "connection";
    private const string DnsProblem = ProblemPrefix + "dns";
    private const string Unauthorized = ProblemPrefix + "unauthorized";
    private const string IncorrectResponse = ProblemPrefix + "incorrectResponse";
    private const string Malformed = ProblemPrefix + "malformed";

    private readonly int _port;
    private readonly TimeSpan _timeout;
    private readonly LookupClient _dns;
    private readonly bool _ownResolver;

    public AcmeChallengeValidator(AcmeValidationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _port = options.Http01Port;
        _timeout = TimeSpan.FromSeconds(options.ValidationTimeoutSeconds);
        var resolver = options.ResolverEndPoint();
        _ownResolver = resolver is not null;
        var lookup = resolver is null ? new LookupClientOptions() : new LookupClientOptions(resolver);
        // A validation must see what is published now: no cache. DNS errors are answers to judge, not exceptions.
        lookup.UseCache = false;
        lookup.ThrowDnsErrors = false;
        lookup.ContinueOnDnsError = false;
        lookup.UseTcpFallback = true;
        lookup.Retries = 1;
        lookup.Timeout = TimeSpan.FromSeconds(Math.Min(5, options.ValidationTimeoutSeconds));
        _dns = new LookupClient(lookup);
    }

    public async Task<ChallengeCheck> ValidateAsync(AcmeChallengeKind kind, string domain, string token, string keyAuthorization, CancellationToken ct)
    {
        if (domain is null || (!IsHostName(domain) && !IPAddress.TryParse(domain, out _)))
        {
            return Fail(Malformed, "The identifier is not a DNS name or an IP address.");
        }

        // §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
        if (!IsBase64Url(token, MaxKeyAuthorizationLength) || keyAuthorization is null || keyAuthorization.Length > MaxKeyAuthorizationLength
            || !keyAuthorization.StartsWith(token + ".", StringComparison.Ordinal) || !IsBase64Url(keyAuthorization[(token.Length + 1)..], MaxKeyAuthorizationLength))
        {
            return Fail(Malformed, "The challenge's token or key authorization is malformed.");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        try
        {
            return kind switch
            {
                AcmeChallengeKind.Http01 => await Http01Async(domain, token, keyAuthorization, timeout.Token).ConfigureAwait(false),
                AcmeChallengeKind.Dns01 => await Dns01Async(domain, keyAuthorization, timeout.Token).ConfigureAwait(false),
                _ => Fail(Malformed, "The challenge type is not supported."),
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail(kind == AcmeChallengeKind.Dns01 ? DnsProblem : Connection,
                string.Create(CultureInfo.InvariantCulture, $"No answer from {domain} within {_timeout.TotalSeconds:0} s."));
        }
    }

    // RFC 8555 §8.4: one of the TXT records at _acme-challenge.{domain} holds base64url(SHA-256(key authorization)).
    private async Task<ChallengeCheck> Dns01Async(string domain, string keyAuthorization, CancellationToken ct)
    {
        if (IPAddress.TryParse(domain, out _))
        {
            return Fail(Malformed, "dns-01 does not apply to an IP address identifier (RFC 8738 §7).");
        }

        var name = "_acme-challenge." + domain;
        IDnsQueryResponse response;
        try
        {
            response = await _dns.QueryAsync(name, QueryType.TXT, QueryClass.IN, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DnsResponseException or ArgumentException or FormatException or IndexOutOfRangeException or InvalidOperationException or IOException or SocketException)
        {
            return Fail(DnsProblem, $"The DNS query for TXT {name} failed: {Describe(ex)}.");
        }

        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return Fail(DnsProblem, $"DNS says {name} does not exist (NXDOMAIN).");
        }

        if (response.HasError)
        {
            return Fail(DnsProblem, $"The DNS query for TXT {name} failed: {response.Header.ResponseCode}.");
        }

        var records = response.Answers.TxtRecords().Take(MaxTxtRecords + 1).ToList();
        if (records.Count == 0)
        {
            return Fail(Unauthorized, $"No TXT record at {name}.");
        }

        if (records.Count > MaxTxtRecords)
        {
            return Fail(IncorrectResponse, $"More than {MaxTxtRecords} TXT records at {name}.");
        }

        var expected = Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(keyAuthorization)));
        // A record's character-strings are one value (RFC 7208 §3.3 reads them so too); a digest fits in one.
        return records.Any(r => string.Equals(string.Concat(r.Text), expected, StringComparison.Ordinal))
            ? new ChallengeCheck(true, null, null)
            : Fail(IncorrectResponse, $"No TXT record at {name} holds the key authorization's digest.");
    }

    // RFC 8555 §8.3: GET http://{domain}:{port}/.well-known/acme-challenge/{token}; the body, trailing whitespace removed, is the key authorization.
    private async Task<ChallengeCheck> Http01Async(string domain, string token, string keyAuthorization, CancellationToken ct)
    {
        IReadOnlyList<IPAddress> addresses;
        if (IPAddress.TryParse(domain, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            var resolved = await ResolveAsync(domain, ct).ConfigureAwait(false);
            if (resolved.Problem is not null)
            {
                return resolved.Problem;
            }

            addresses = resolved.Addresses;
        }

        var (socket, refusal) = await ConnectAsync(addresses, ct).ConfigureAwait(false);
        if (socket is null)
        {
            return Fail(Connection, $"Could not connect to {domain} on port {_port.ToString(CultureInfo.InvariantCulture)}: {refusal}.");
        }

        using var connected = socket; // the stream below owns it too; disposed however the request ends
        var host = literal is { AddressFamily: AddressFamily.InterNetworkV6 } ? "[" + literal + "]" : domain;
        var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{_port}/.well-known/acme-challenge/{token}"));
        using var handler = new SocketsHttpHandler
        {
            // The connection made above to the name's own address; nothing else is dialled.
            ConnectCallback = (_, _) => ValueTask.FromResult<Stream>(new NetworkStream(socket, ownsSocket: true)),
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseHeadersLength = 16,
            MaxConnectionsPerServer = 1,
        };
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.UserAgent.ParseAdd("OpenCM-ACME-validation/1");
        request.Headers.ConnectionClose = true;
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var status = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                return Fail(Unauthorized, (int)response.StatusCode is >= 300 and < 400
                    ? $"{url} answered {status} (a redirect): OpenCM does not follow redirects."
                    : $"{url} answered {status}, not 200.");
            }

            var body = await ReadCappedAsync(response.Content, ct).ConfigureAwait(false);
            if (body is null)
            {
                return Fail(IncorrectResponse, $"{url} answered more than {MaxBodyBytes} bytes.");
            }

            // §8.3: "The server SHOULD ignore whitespace characters at the end of the body."
            var text = Encoding.UTF8.GetString(body).TrimEnd(' ', '\t', '\r', '\n');
            return string.Equals(text, keyAuthorization, StringComparison.Ordinal)
                ? new ChallengeCheck(true, null, null)
                : Fail(IncorrectResponse, $"{url} answered a body that is not the key authorization.");
        }
        catch (HttpRequestException ex)
        {
            return Fail(Connection, $"{url} failed: {Describe(ex)}.");
        }
        catch (IOException ex)
        {
            return Fail(Connection, $"{url} failed: {Describe(ex)}.");
        }
    }

    private async Task<(IReadOnlyList<IPAddress> Addresses, ChallengeCheck? Problem)> ResolveAsync(string domain, CancellationToken ct)
    {
        try
        {
            if (!_ownResolver)
            {
                // The operating system's lookup (hosts file included), as any other client on this host resolves.
                var found = await Dns.GetHostAddressesAsync(domain, ct).ConfigureAwait(false);
                return found.Length == 0 ? ([], Fail(DnsProblem, $"{domain} has no A or AAAA record.")) : (Ordered(found), null);
            }

            var addresses = new List<IPAddress>();
            foreach (var type in new[] { QueryType.AAAA, QueryType.A })
            {
                var response = await _dns.QueryAsync(domain, type, QueryClass.IN, ct).ConfigureAwait(false);
                if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
                {
                    return ([], Fail(DnsProblem, $"DNS says {domain} does not exist (NXDOMAIN)."));
                }

                if (!response.HasError)
                {
                    addresses.AddRange(response.Answers.AddressRecords().Select(r => r.Address));
                }
            }

            return addresses.Count == 0 ? ([], Fail(DnsProblem, $"{domain} has no A or AAAA record.")) : (Ordered(addresses), null);
        }
        catch (Exception ex) when (ex is SocketException or DnsResponseException or ArgumentException or FormatException or IndexOutOfRangeException or InvalidOperationException or IOException)
        {
            return ([], Fail(DnsProblem, $"Resolving {domain} failed: {Describe(ex)}."));
        }
    }

    // IPv6 first, then IPv4, as Let's Encrypt tries them; each address in turn until one accepts.
    private static List<IPAddress> Ordered(IEnumerable<IPAddress> addresses) =>
        [.. addresses.Distinct().OrderBy(a => a.AddressFamily == AddressFamily.InterNetworkV6 ? 0 : 1).Take(8)];

    private async Task<(Socket? Socket, string Refusal)> ConnectAsync(IReadOnlyList<IPAddress> addresses, CancellationToken ct)
    {
        var refusal = "no address";
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, _port), ct).ConfigureAwait(false);
                return (socket, "");
            }
            catch (SocketException ex)
            {
                refusal = $"{address}: {ex.SocketErrorCode}";
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        return (null, refusal);
    }

    // The body, or null when it is longer than MaxBodyBytes (read no further than one byte past it).
    private static async Task<byte[]?> ReadCappedAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new byte[MaxBodyBytes + 1];
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), ct).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total > MaxBodyBytes ? null : buffer[..total];
    }

    /// <summary>A DNS host name: 1-253 characters of LDH labels (RFC 1123 §2.1), each 1-63 long, no leading or trailing hyphen.</summary>
    internal static bool IsHostName([NotNullWhen(true)] string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsBase64Url([NotNullWhen(true)] string? value, int maxLength) =>
        !string.IsNullOrEmpty(value) && value.Length <= maxLength && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    // The exception's message without a stack or inner chain; never the key authorization (it is not in any).
    private static string Describe(Exception ex) => (ex.InnerException is SocketException s ? s.SocketErrorCode.ToString() : ex.Message).TrimEnd('.');

    private static ChallengeCheck Fail(string type, string detail) => new(false, type, detail);
}
