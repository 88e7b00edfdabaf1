using System.CommandLine;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Client;

namespace OpenCM.Cli;

/// <summary>
/// How every command that talks to a server reaches it (issue #23.5): the server's address
/// (<c>--server</c>), and whom to trust for an https one whose CA is not in the system store:
/// <c>--ca-file PATH</c> (trust exactly the CA certificates in that file) or
/// <c>--ca-fingerprint SHA256</c> (trust the CA with that SHA-256 fingerprint, as step's
/// <c>ca bootstrap</c> does). <see cref="Attach"/> gives both options to every command that has
/// <c>--server</c>, so a command built with <see cref="RequestCommands.ServerOption"/> and
/// <see cref="RequestCommands.Client(string, string?)"/> gets them without naming them.
/// </summary>
internal static class ServerConnection
{
    public const string CaFileVariable = "OPENCM_CA_FILE";

    public const string CaFingerprintVariable = "OPENCM_CA_FINGERPRINT";

    public const string CaFileName = "--ca-file";

    public const string CaFingerprintName = "--ca-fingerprint";

    // The command line being run, so that the helpers' Client(server, token) reads --ca-file and --ca-fingerprint from it.
    private static readonly AsyncLocal<ParseResult?> Running = new();

    /// <summary>Adds --ca-file and --ca-fingerprint to every command under <paramref name="root"/> that has --server.</summary>
    public static void Attach(Command root)
    {
        ArgumentNullException.ThrowIfNull(root);
        foreach (var command in Walk(root))
        {
            if (command.Options.Any(o => o.Name == "--server") && !command.Options.Any(o => o.Name == CaFileName))
            {
                command.Options.Add(new Option<string?>(CaFileName)
                {
                    Description = $"For an https server whose CA is not in the system store: trust exactly the CA certificate(s) in this PEM or DER file; defaults to ${CaFileVariable}.",
                    HelpName = "PATH",
                });
                command.Options.Add(new Option<string?>(CaFingerprintName)
                {
                    Description = $"For an https server whose CA is not in the system store: trust the CA whose SHA-256 fingerprint this is (hex, colons optional); defaults to ${CaFingerprintVariable}.",
                    HelpName = "SHA256",
                });
            }
        }
    }

    /// <summary>The command line being run (set by <see cref="OpenCmCli"/> before the command's action).</summary>
    public static void Run(ParseResult parse) => Running.Value = parse;

    /// <summary>Every command of the tree, <paramref name="root"/> first.</summary>
    public static IEnumerable<Command> Walk(Command root)
    {
        ArgumentNullException.ThrowIfNull(root);
        yield return root;
        foreach (var child in root.Subcommands)
        {
            foreach (var command in Walk(child))
            {
                yield return command;
            }
        }
    }

    /// <summary>A typed client of <paramref name="server"/> trusting what --ca-file / --ca-fingerprint (or their variables) say.</summary>
    public static OpenCmClient Client(Uri server, string token)
    {
        var trust = Trust(server);
        return new OpenCmClient(new OpenCmOnly(server, Handler(trust)), server, token);
    }

    /// <summary>A plain HTTP client of <paramref name="server"/> with the same trust (for what is outside the API: the CA's certificates, the CRL).</summary>
    public static HttpClient Http(Uri server) => new(Handler(Trust(server)), disposeHandler: true) { BaseAddress = server };

    /// <summary>
    /// One line for a failure to reach the server: the TLS reason when the handshake failed (not
    /// .NET's "see inner exception"), else what the socket said.
    /// </summary>
    public static string Describe(HttpRequestException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case NotOpenCmServerException foreign:
                    return foreign.Message;
                case ServerNotTrustedException refused:
                    return refused.Message;
                case AuthenticationException tls:
                    return $"the TLS handshake with the server failed: {tls.Message.ReplaceLineEndings(" ")}";
            }
        }

        var inner = ex.InnerException is { } cause && !ex.Message.Contains(cause.Message, StringComparison.Ordinal) ? $" ({cause.Message.ReplaceLineEndings(" ")})" : "";
        return $"cannot reach the server: {ex.Message.ReplaceLineEndings(" ")}{inner}";
    }

    /// <summary>The SHA-256 fingerprint as given (hex, colons or spaces optional, any case) as 32 bytes; anything else is a usage error.</summary>
    public static byte[] ParseFingerprint(string text, string from)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hex = string.Concat(text.Where(c => c != ':' && !char.IsWhiteSpace(c)));
        if (hex.StartsWith("sha256", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[6..].TrimStart('=', '/');
        }

        try
        {
            var bytes = Convert.FromHexString(hex);
            if (bytes.Length == 32)
            {
                return bytes;
            }
        }
        catch (FormatException)
        {
        }

        throw new CliException($"{from} is a SHA-256 fingerprint: 64 hex digits, colons optional (not '{text}')");
    }

    // --ca-file or --ca-fingerprint of the command line being run, else their variables; at most one of them.
    private static ServerTrust Trust(Uri server)
    {
        var file = Value(CaFileName) ?? NonEmpty(Environment.GetEnvironmentVariable(CaFileVariable));
        var fingerprint = Value(CaFingerprintName) ?? NonEmpty(Environment.GetEnvironmentVariable(CaFingerprintVariable));
        if (file is not null && fingerprint is not null)
        {
            throw new CliException($"give {CaFileName} or {CaFingerprintName} ({CaFileVariable} or {CaFingerprintVariable}), not both");
        }

        if (file is not null)
        {
            return ServerTrust.FromFile(server, file);
        }

        return new ServerTrust(server, null, fingerprint is null ? null : ParseFingerprint(fingerprint, Value(CaFingerprintName) is null ? CaFingerprintVariable : CaFingerprintName));
    }

    private static string? Value(string name)
    {
        if (Running.Value is not { } parse)
        {
            return null;
        }

        var option = parse.CommandResult.Command.Options.OfType<Option<string?>>().FirstOrDefault(o => o.Name == name);
        return option is null ? null : NonEmpty(parse.GetValue(option));
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private static SocketsHttpHandler Handler(ServerTrust trust) => new()
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = trust.Validate },
    };
}

/// <summary>
/// Whom the CLI trusts for an https server: the system store (neither option), exactly the CA
/// certificates of a file, or the CA with a SHA-256 fingerprint. The fingerprint's CA is looked
/// for in the chain the server sends; a server that sends only its own certificate (a root is
/// never sent) has its issuer fetched from the certificate's caIssuers address on the same
/// server, untrusted, and then trusted only if its fingerprint is the one given, as step's
/// <c>ca bootstrap</c> does.
/// </summary>
internal sealed class ServerTrust
{
    private readonly Uri _server;
    private readonly X509Certificate2Collection? _anchors;
    private readonly byte[]? _fingerprint;
    private X509Certificate2? _fetched;

    public ServerTrust(Uri server, X509Certificate2Collection? anchors, byte[]? fingerprint)
    {
        _server = server;
        _anchors = anchors;
        _fingerprint = fingerprint;
    }

    /// <summary>The CA certificates of a PEM (one or more) or DER file; a missing or unreadable file is a usage error naming it.</summary>
    public static ServerTrust FromFile(Uri server, string path)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"{ServerConnection.CaFileName} '{path}': no such file");
        }

        var anchors = new X509Certificate2Collection();
        try
        {
            var text = File.ReadAllText(path);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                anchors.ImportFromPem(text);
            }
            else
            {
                anchors.Add(X509CertificateLoader.LoadCertificate(File.ReadAllBytes(path)));
            }
        }
        catch (CryptographicException ex)
        {
            throw new CliException($"{ServerConnection.CaFileName} '{path}' holds no certificate OpenCM can read (PEM or DER): {ex.Message}");
        }

        return anchors.Count > 0 ? new ServerTrust(server, anchors, null) : throw new CliException($"{ServerConnection.CaFileName} '{path}' holds no certificate (PEM or DER)");
    }

    /// <summary>
    /// The TLS validation: the name must match always; the chain must end at the system store's
    /// roots, the file's CAs, or the fingerprint's CA. A refusal throws
    /// <see cref="ServerNotTrustedException"/>, whose one line says why and what to pass.
    /// </summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            throw new ServerNotTrustedException("the server presented no certificate");
        }

        var host = sender is SslStream { TargetHostName: { Length: > 0 } name } ? name : "the server's address";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            throw new ServerNotTrustedException($"the server's certificate is not for {host} (its names do not match the address in --server)");
        }

        if (_anchors is null && _fingerprint is null)
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            throw new ServerNotTrustedException($"the server's certificate is not trusted: {Status(chain)}; pass {ServerConnection.CaFileName} PATH or {ServerConnection.CaFingerprintName} SHA256 (see 'opencm ca root')");
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var sent = new X509Certificate2Collection();
        if (chain is not null)
        {
            sent.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements)
            {
                sent.Add(element.Certificate);
            }
        }

        if (_anchors is not null)
        {
            return Build(leaf, sent, _anchors, out var why)
                ? true
                : throw new ServerNotTrustedException($"the server's certificate does not chain to the CA in {ServerConnection.CaFileName}: {why}");
        }

        var anchor = sent.Cast<X509Certificate2>().Prepend(leaf).FirstOrDefault(Matches) ?? Fetch(leaf)
            ?? throw new ServerNotTrustedException($"no CA with the fingerprint given in {ServerConnection.CaFingerprintName} is in the server's chain");
        return Build(leaf, sent, [anchor], out var reason)
            ? true
            : throw new ServerNotTrustedException($"the server's certificate does not chain to the CA with the fingerprint given: {reason}");
    }

    private bool Matches(X509Certificate2 candidate) => CryptographicOperations.FixedTimeEquals(candidate.GetCertHash(HashAlgorithmName.SHA256), _fingerprint);

    // The chain from the leaf to exactly these anchors, the server's other certificates as intermediates.
    private static bool Build(X509Certificate2 leaf, X509Certificate2Collection intermediates, X509Certificate2Collection anchors, out string why)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(anchors);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var built = chain.Build(leaf) && anchors.Cast<X509Certificate2>().Any(a => a.Thumbprint == chain.ChainElements[^1].Certificate.Thumbprint);
        why = built ? "" : Status(chain);
        return built;
    }

    private static string Status(X509Chain? chain)
    {
        var statuses = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToList() ?? [];
        return statuses.Count == 0 ? "the chain could not be built" : string.Join(", ", statuses);
    }

    // The leaf's issuer, from its caIssuers address's path on the server it came from (a CA's public address may not be reachable from here); kept when its fingerprint is the one given.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "The issuer is fetched untrusted and then trusted only if its SHA-256 fingerprint is the one the user gave.")]
    private X509Certificate2? Fetch(X509Certificate2 leaf)
    {
        if (_fetched is not null)
        {
            return _fetched;
        }

        var aia = leaf.Extensions.Cast<X509Extension>().FirstOrDefault(e => e.Oid?.Value == "1.3.6.1.5.5.7.1.1");
        var address = aia is null ? null : new X509AuthorityInformationAccessExtension(aia.RawData, aia.Critical).EnumerateCAIssuersUris().FirstOrDefault();
        if (address is null || !Uri.TryCreate(address, UriKind.Absolute, out var published))
        {
            return null;
        }

        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } }) { Timeout = TimeSpan.FromSeconds(30) };
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_server, published.PathAndQuery));
            using var response = http.Send(request);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var stream = response.Content.ReadAsStream();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var issuer = X509CertificateLoader.LoadCertificate(buffer.ToArray());
            if (Matches(issuer))
            {
                _fetched = issuer;
                return issuer;
            }

            issuer.Dispose();
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or CryptographicException or TaskCanceledException or IOException)
        {
            return null;
        }
    }
}

/// <summary>The server's certificate is not trusted: the one line to show (issue #23.5).</summary>
public sealed class ServerNotTrustedException : AuthenticationException
{
    public ServerNotTrustedException(string message)
        : base(message)
    {
    }

    public ServerNotTrustedException()
    {
    }

    public ServerNotTrustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>What answered at the address is not an OpenCM (or MIM CM) API: a web page, or a 404 without a problem body (issue #23.5).</summary>
public sealed class NotOpenCmServerException : HttpRequestException
{
    public NotOpenCmServerException(string message)
        : base(message)
    {
    }

    public NotOpenCmServerException()
    {
    }

    public NotOpenCmServerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Refuses answers no OpenCM API gives: its answers are JSON (a problem body for a failure, its
/// fallback's 404 included), so a success that is not JSON, or a 404 without a body of JSON, came
/// from something else at that address.
/// </summary>
internal sealed class OpenCmOnly(Uri server, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var media = response.Content.Headers.ContentType?.MediaType;
        var json = media is not null && (media.EndsWith("/json", StringComparison.OrdinalIgnoreCase) || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
        var foreign = !json && (response.IsSuccessStatusCode
            ? media is not null || response.Content.Headers.ContentLength is > 0
            : response.StatusCode == HttpStatusCode.NotFound);
        if (!foreign)
        {
            return response;
        }

        var answered = $"{(int)response.StatusCode} {media ?? "without a body"}";
        response.Dispose();
        throw new NotOpenCmServerException($"{server.GetLeftPart(UriPartial.Authority)} does not look like an OpenCM/MIM CM server: it answered {request.Method} {request.RequestUri?.AbsolutePath} with {answered}; check --server (the address and port the server prints at start)");
    }
}
