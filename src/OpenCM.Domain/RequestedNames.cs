using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OpenCM.Domain;

/// <summary>The kinds of subject alternative name a request may ask for (issue #24).</summary>
public enum RequestedNameKind
{
    Dns,
    Ip,
    Uri,
}

/// <summary>One name a request asks for, as the client wrote it.</summary>
public sealed record RequestedName(RequestedNameKind Kind, string Value);

/// <summary>
/// What a certificate template allows a request to ask for in its subjectAltName (issue #24;
/// docs/decisions/0014-requested-names-and-protocols.md): DNS patterns (a host name, or
/// <c>*.</c> and a domain for exactly one more label), IP addresses or CIDR networks, and URI
/// patterns (<c>scheme://host[:port]/path</c>, a final <c>/*</c> for any path below).
/// </summary>
public sealed record RequestedNameRules
{
    /// <summary>How many names a request may ask for when the template says nothing.</summary>
    public const int DefaultMaxNames = 100;

    /// <summary>The most a template may allow (bounds the work of one check).</summary>
    public const int MaxMaxNames = 1000;

    public IReadOnlyList<string> Dns { get; init; } = [];

    public IReadOnlyList<string> Ip { get; init; } = [];

    public IReadOnlyList<string> Uri { get; init; } = [];

    /// <summary>The most names one request may ask for (1 to <see cref="MaxMaxNames"/>).</summary>
    public int MaxNames { get; init; } = DefaultMaxNames;

    /// <summary>True when no pattern allows anything.</summary>
    public bool IsEmpty => Dns.Count == 0 && Ip.Count == 0 && Uri.Count == 0;
}

/// <summary>Requested names a template allows, normalised: lower-case ASCII DNS names, addresses, URIs with lower-case scheme and host.</summary>
public sealed record AcceptedNames(IReadOnlyList<string> DnsNames, IReadOnlyList<IPAddress> IpAddresses, IReadOnlyList<string> Uris)
{
    public static readonly AcceptedNames None = new([], [], []);

    public int Count => DnsNames.Count + IpAddresses.Count + Uris.Count;
}

/// <summary>The outcome of <see cref="RequestedNames.Check"/>: the accepted names, or why they are refused.</summary>
public sealed record NameCheck(AcceptedNames? Accepted, DomainError? Error)
{
    public bool IsAccepted => Accepted is not null;
}

/// <summary>
/// Checks the names a request asks for against its template's <see cref="RequestedNameRules"/>
/// (issue #24). Pure and total: every input ends in accepted names or a ValidationFailed naming
/// the offending name; nothing throws for what a client sends.
/// </summary>
public static class RequestedNames
{
    /// <summary>The field refusals name.</summary>
    public const string Field = "requestedNames";

    /// <summary>The most characters all requested names of one request may have together.</summary>
    public const int MaxTotalLength = 32 * 1024;

    /// <summary>The longest URI a request may ask for.</summary>
    public const int MaxUriLength = 2048;

    /// <summary>RFC 1035 §2.3.4 (without the root's dot): a name of at most 253 characters, labels of at most 63.</summary>
    public const int MaxDnsLength = 253;

    public const int MaxLabelLength = 63;

    /// <summary>
    /// The names of <paramref name="requested"/> the template allows, normalised and each once, in
    /// the order asked; or a ValidationFailed naming the first it does not. No rules (or empty
    /// rules) allow no names: a request that asks for none is accepted with none.
    /// </summary>
    public static NameCheck Check(RequestedNameRules? rules, IReadOnlyList<RequestedName> requested)
    {
        ArgumentNullException.ThrowIfNull(requested);
        if (requested.Count == 0)
        {
            return new NameCheck(AcceptedNames.None, null);
        }

        if (rules is null || rules.IsEmpty)
        {
            return Refused("The template allows no requested subject alternative names.");
        }

        if (requested.Count > rules.MaxNames)
        {
            return Refused($"{requested.Count} names were requested; the template allows at most {rules.MaxNames}.");
        }

        long total = 0;
        foreach (var r in requested)
        {
            total += r?.Value?.Length ?? 0;
        }

        if (total > MaxTotalLength)
        {
            return Refused($"The requested names have {total} characters together; at most {MaxTotalLength} are allowed.");
        }

        // Patterns were checked at import; one that no longer parses allows nothing.
        var dnsPatterns = rules.Dns.Select(p => DnsPattern.Parse(p)).OfType<DnsPattern>().ToList();
        var networks = rules.Ip.Select(p => Network.Parse(p)).OfType<Network>().ToList();
        var uriPatterns = rules.Uri.Select(p => UriPattern.Parse(p)).OfType<UriPattern>().ToList();
        var dns = new List<string>();
        var ips = new List<IPAddress>();
        var uris = new List<string>();
        foreach (var r in requested)
        {
            if (r?.Value is null)
            {
                return Refused("A requested name is empty.");
            }

            switch (r.Kind)
            {
                case RequestedNameKind.Dns:
                    if (r.Value.Contains('*', StringComparison.Ordinal))
                    {
                        return Refused($"The DNS name '{Shown(r.Value)}' is a wildcard; only host names may be requested.");
                    }

                    if (DnsName(r.Value) is not { } name)
                    {
                        return Refused($"'{Shown(r.Value)}' is not a DNS host name (letters, digits and hyphens, labels of 1 to 63 characters, at most 253).");
                    }

                    if (!dnsPatterns.Any(p => p.Matches(name)))
                    {
                        return Refused($"The DNS name '{Shown(r.Value)}' is not one the template allows.");
                    }

                    if (!dns.Contains(name, StringComparer.Ordinal))
                    {
                        dns.Add(name);
                    }

                    break;
                case RequestedNameKind.Ip:
                    if (Address(r.Value) is not { } address)
                    {
                        return Refused($"'{Shown(r.Value)}' is not an IPv4 address in dotted decimal or an IPv6 address without a zone.");
                    }

                    if (!networks.Any(n => n.Contains(address)))
                    {
                        return Refused($"The IP address '{Shown(r.Value)}' is not one the template allows.");
                    }

                    if (!ips.Contains(address))
                    {
                        ips.Add(address);
                    }

                    break;
                case RequestedNameKind.Uri:
                    if (UriParts.Parse(r.Value, pattern: false) is not { } uri)
                    {
                        return Refused($"'{Shown(r.Value)}' is not an absolute URI without user information, fragment or dot segments.");
                    }

                    if (!uriPatterns.Any(p => p.Matches(uri)))
                    {
                        return Refused($"The URI '{Shown(r.Value)}' is not one the template allows.");
                    }

                    if (!uris.Contains(uri.Text, StringComparer.Ordinal))
                    {
                        uris.Add(uri.Text);
                    }

                    break;
                default:
                    return Refused("A requested name is of an unknown kind.");
            }
        }

        return new NameCheck(new AcceptedNames(dns, ips, uris), null);
    }

    /// <summary>
    /// The first pattern of <paramref name="rules"/> that is not one (a ValidationFailed naming
    /// <paramref name="at"/><c>.dns</c>, <c>.ip</c>, <c>.uri</c> or <c>.maxNames</c>), or null
    /// when every pattern is valid: what an import checks, so that a template never stores a
    /// pattern a check could not use.
    /// </summary>
    public static DomainError? CheckRules(RequestedNameRules rules, string at)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (rules.MaxNames is < 1 or > RequestedNameRules.MaxMaxNames)
        {
            return DomainError.Validation($"{at}.maxNames", $"maxNames is 1 to {RequestedNameRules.MaxMaxNames}.");
        }

        foreach (var p in rules.Dns)
        {
            if (DnsPattern.Parse(p) is null)
            {
                return DomainError.Validation($"{at}.dns",
                    $"'{Shown(p)}' is not a DNS pattern: a host name, or '*.' and a domain (the '*' standing for exactly one left-most label).");
            }
        }

        foreach (var p in rules.Ip)
        {
            if (Network.Parse(p) is null)
            {
                return DomainError.Validation($"{at}.ip",
                    $"'{Shown(p)}' is not an IP address or a CIDR network (e.g. 10.0.0.0/8, fd00::/8; no bits set after the prefix).");
            }
        }

        foreach (var p in rules.Uri)
        {
            if (UriPattern.Parse(p) is null)
            {
                return DomainError.Validation($"{at}.uri",
                    $"'{Shown(p)}' is not a URI pattern: scheme://host[:port] and a path, '/*' at the end for any path below it.");
            }
        }

        return null;
    }

    /// <summary>
    /// A DNS host name in the form a certificate carries (RFC 5280 §4.2.1.6, RFC 5890): one final
    /// dot removed (an absolute name is the same host), IDNs in their A-label form, lower case,
    /// letters, digits and hyphens only, labels 1 to 63 characters and not starting or ending with
    /// a hyphen, at most 253 characters, and not all digits at the end (that is an IPv4 address).
    /// Null when <paramref name="value"/> is not one.
    /// </summary>
    public static string? DnsName(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0 || value.Length > 4 * MaxDnsLength)
        {
            return null;
        }

        var text = value.EndsWith('.') ? value[..^1] : value;
        if (!Ascii.IsValid(text))
        {
            // An IDN in lower case to its A-label; one the mapping would change otherwise (another
            // form, a character IDNA maps away) is refused rather than silently made another name.
            try
            {
                var idn = new IdnMapping { UseStd3AsciiRules = true, AllowUnassigned = false };
                var lower = text.ToLowerInvariant();
                if (!lower.All(IsULabelCharacter))
                {
                    return null;
                }

                text = idn.GetAscii(lower);
                if (!string.Equals(idn.GetUnicode(text), lower, StringComparison.Ordinal))
                {
                    return null;
                }
            }
            catch (ArgumentException)
            {
                return null;
            }
        }

        text = text.ToLowerInvariant();
        if (text.Length is 0 or > MaxDnsLength)
        {
            return null;
        }

        var labels = text.Split('.');
        foreach (var label in labels)
        {
            if (!IsLdhLabel(label))
            {
                return null;
            }

            if (label.StartsWith("xn--", StringComparison.Ordinal) && !IsALabel(label))
            {
                return null;
            }
        }

        return labels[^1].All(char.IsAsciiDigit) ? null : text;
    }

    /// <summary>An address as a certificate carries it: IPv4 in dotted decimal without leading zeros, or IPv6 without zone or brackets; null otherwise.</summary>
    public static IPAddress? Address(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length is 0 or > 45)
        {
            return null;
        }

        if (!value.Contains(':', StringComparison.Ordinal))
        {
            // IPAddress.TryParse also reads "10", "0x0a.1" and "010.0.0.1" (octal): a name that means one thing to one parser and another to the next is refused.
            var parts = value.Split('.');
            if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0') || int.Parse(p, CultureInfo.InvariantCulture) > 255))
            {
                return null;
            }

            return IPAddress.Parse(value);
        }

        if (!value.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.'))
        {
            return null; // zones (%eth0), brackets, prefixes and spaces
        }

        return IPAddress.TryParse(value, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId == 0 ? address : null;
    }

    // Letters, combining marks, digits, hyphens and dots: an approximation of RFC 5892's PVALID
    // that refuses what IDNA2008 disallows and the invariant-globalization IdnMapping would encode
    // (spaces, zero-width characters, symbols, punctuation such as a full-width dot).
    private static bool IsULabelCharacter(char c) =>
        c is '-' or '.'
        || char.GetUnicodeCategory(c) is UnicodeCategory.LowercaseLetter or UnicodeCategory.OtherLetter or UnicodeCategory.ModifierLetter
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber;

    private static bool IsLdhLabel(string label) =>
        label.Length is >= 1 and <= MaxLabelLength
        && label[0] != '-' && label[^1] != '-'
        && label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    // An A-label must decode (RFC 5890 §2.3.2.1); "xn--" followed by anything else is refused.
    private static bool IsALabel(string label)
    {
        try
        {
            var unicode = new IdnMapping { UseStd3AsciiRules = true, AllowUnassigned = false }.GetUnicode(label);
            return !string.Equals(unicode, label, StringComparison.Ordinal);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static NameCheck Refused(string detail) => new(null, DomainError.Validation(Field, detail));

    // Client text in a message: printable ASCII, at most 80 characters.
    private static string Shown(string? value)
    {
        if (value is null)
        {
            return "";
        }

        var builder = new StringBuilder();
        foreach (var c in value.Length > 80 ? value[..80] : value)
        {
            builder.Append(c is >= ' ' and <= '~' and not '\'' ? c : '?');
        }

        return value.Length > 80 ? builder.Append('…').ToString() : builder.ToString();
    }

    // A host name, or "*." and a domain of at least one label: the '*' is exactly one left-most label.
    private sealed record DnsPattern(string Suffix, bool Wildcard)
    {
        public static DnsPattern? Parse(string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            var wildcard = text.StartsWith("*.", StringComparison.Ordinal);
            var rest = wildcard ? text[2..] : text;
            if (rest.Contains('*', StringComparison.Ordinal) || DnsName(rest) is not { } name || (wildcard && name.Length + 2 > MaxDnsLength))
            {
                return null;
            }

            return new DnsPattern(name, wildcard);
        }

        public bool Matches(string name) => Wildcard
            ? name.Length > Suffix.Length + 1
              && name.EndsWith(Suffix, StringComparison.Ordinal)
              && name[^(Suffix.Length + 1)] == '.'
              && !name.AsSpan(0, name.Length - Suffix.Length - 1).Contains('.')
            : string.Equals(name, Suffix, StringComparison.Ordinal);
    }

    // An address (/32 or /128) or a CIDR network whose address has no bits set after the prefix.
    private sealed record Network(byte[] Prefix, int Bits, AddressFamily Family)
    {
        public static Network? Parse(string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            var slash = text.IndexOf('/', StringComparison.Ordinal);
            if (Address(slash < 0 ? text : text[..slash]) is not { } address)
            {
                return null;
            }

            var bytes = address.GetAddressBytes();
            var bits = bytes.Length * 8;
            if (slash >= 0)
            {
                var length = text[(slash + 1)..];
                if (length.Length is 0 or > 3 || !length.All(char.IsAsciiDigit) || (length.Length > 1 && length[0] == '0')
                    || !int.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out bits) || bits > bytes.Length * 8)
                {
                    return null;
                }
            }

            var network = new Network(bytes, bits, address.AddressFamily);
            return network.Contains(address) && Masked(bytes, bits).AsSpan().SequenceEqual(bytes) ? network : null;
        }

        public bool Contains(IPAddress address)
        {
            if (address.AddressFamily != Family)
            {
                return false;
            }

            return Masked(address.GetAddressBytes(), Bits).AsSpan().SequenceEqual(Masked(Prefix, Bits));
        }

        private static byte[] Masked(byte[] bytes, int bits)
        {
            var masked = new byte[bytes.Length];
            for (var i = 0; i < bytes.Length; i++)
            {
                var keep = Math.Clamp(bits - (i * 8), 0, 8);
                masked[i] = (byte)(bytes[i] & (0xFF00 >> keep));
            }

            return masked;
        }
    }

    // scheme://host[:port] and the rest (path and query), each normalised; Text is the whole as a certificate carries it.
    private sealed record UriParts(string Scheme, string Host, string Port, string Rest, string Text)
    {
        public static UriParts? Parse(string text, bool pattern)
        {
            if (text.Length is 0 or > MaxUriLength || !text.All(c => c is > ' ' and <= '~') || text.Contains('#', StringComparison.Ordinal) || text.Contains('\\', StringComparison.Ordinal))
            {
                return null; // an IA5String without spaces or controls; no fragment (RFC 5280 §4.2.1.6)
            }

            var colon = text.IndexOf("://", StringComparison.Ordinal);
            if (colon <= 0 || !char.IsAsciiLetter(text[0]) || !text[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.'))
            {
                return null;
            }

            var scheme = text[..colon].ToLowerInvariant();
            var afterScheme = text[(colon + 3)..];
            var end = afterScheme.IndexOfAny(['/', '?']);
            var authority = end < 0 ? afterScheme : afterScheme[..end];
            var rest = end < 0 ? "" : afterScheme[end..];
            if (authority.Contains('@', StringComparison.Ordinal) || authority.StartsWith('['))
            {
                return null; // user information (RFC 5280 §4.2.1.6 wants none) and IPv6 literals
            }

            var port = "";
            var portAt = authority.LastIndexOf(':');
            if (portAt >= 0)
            {
                port = authority[(portAt + 1)..];
                authority = authority[..portAt];
                if (port.Length is 0 or > 5 || port[0] == '0' || !port.All(char.IsAsciiDigit) || int.Parse(port, CultureInfo.InvariantCulture) > 65535)
                {
                    return null;
                }
            }

            var host = Address(authority) is { AddressFamily: AddressFamily.InterNetwork } ? authority : authority.EndsWith('.') ? null : DnsName(authority);
            if (host is null)
            {
                return null;
            }

            var path = rest.Split('?')[0];
            if (path.Split('/').Any(s => s is "." or "..") || rest.Contains("%2e", StringComparison.OrdinalIgnoreCase) || rest.Contains("%2f", StringComparison.OrdinalIgnoreCase) || rest.Contains("%5c", StringComparison.OrdinalIgnoreCase))
            {
                return null; // dot segments, plain or encoded, would let a prefix match a name outside it
            }

            var star = rest.IndexOf('*', StringComparison.Ordinal);
            if (star >= 0 && (!pattern || star != rest.Length - 1 || !rest.EndsWith("/*", StringComparison.Ordinal) || rest.Contains('?', StringComparison.Ordinal)))
            {
                return null; // in a pattern, '*' only as the last path segment
            }

            var normal = $"{scheme}://{host}{(port.Length > 0 ? ":" + port : "")}{rest}";
            return System.Uri.TryCreate(normal, UriKind.Absolute, out _) ? new UriParts(scheme, host, port, rest, normal) : null;
        }
    }

    private sealed record UriPattern(UriParts Parts)
    {
        public static UriPattern? Parse(string? text) =>
            string.IsNullOrEmpty(text) || UriParts.Parse(text, pattern: true) is not { } parts ? null : new UriPattern(parts);

        public bool Matches(UriParts uri) =>
            uri.Scheme == Parts.Scheme && uri.Host == Parts.Host && uri.Port == Parts.Port
            && (Parts.Rest.EndsWith('*')
                ? uri.Rest.StartsWith(Parts.Rest[..^1], StringComparison.Ordinal)
                : string.Equals(uri.Rest, Parts.Rest, StringComparison.Ordinal));
    }
}
