using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Domain;

/// <summary>
/// The TLS certificate a server issues itself from its own CA (<c>Tls:FromOwnCa</c>, issue
/// #21.5): the names it answers at as DNS (or IP) SANs, the first as its common name, the
/// serverAuth EKU (RFC 5280 §4.2.1.12, what Kestrel and every TLS client check) and a short
/// lifetime, renewed once two thirds of it have passed, as ACME clients do (certbot renews at 2/3
/// of a 90-day certificate, step-ca's agent at 2/3 by default).
/// </summary>
public static class ServerCertificatePlan
{
    /// <summary>id-kp-serverAuth.</summary>
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";

    /// <summary>What the certificate is recorded under in the certificates table (its template column); no profile template has this name.</summary>
    public const string TemplateName = "OpenCM TLS server";

    /// <summary>The most names one certificate carries.</summary>
    public const int MaxNames = 16;

    /// <summary>
    /// The names of <paramref name="value"/>, a comma-separated list of DNS names and IP
    /// addresses (e.g. "cm.contoso.com,cm,10.0.0.5"), lower-cased and without duplicates; anything
    /// else is a ValidationFailed naming <paramref name="field"/>. No wildcard: a server names itself.
    /// </summary>
    public static IReadOnlyList<string> Names(string? value, string field)
    {
        var names = (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            throw new OpenCmException(DomainError.Validation(field, "Name the host the certificate is for, e.g. cm.contoso.com (several: comma-separated)."));
        }

        if (names.Count > MaxNames)
        {
            throw new OpenCmException(DomainError.Validation(field, $"At most {MaxNames} names, not {names.Count}."));
        }

        foreach (var name in names)
        {
            var dns = name.Length <= 253 && Uri.CheckHostName(name) == UriHostNameType.Dns;
            // An address only as written canonically: IPAddress.TryParse also takes "10" for 0.0.0.10.
            var ip = IPAddress.TryParse(name, out var parsed) && parsed.ToString() == name;
            if (!dns && !ip)
            {
                throw new OpenCmException(DomainError.Validation(field, $"'{name}' is neither a DNS name nor an IP address."));
            }
        }

        return names;
    }

    /// <summary>
    /// The steps of a server certificate for <paramref name="names"/> (from <see cref="Names"/>):
    /// subject CN = the first name, <paramref name="lifetimeDays"/> from <paramref name="now"/>
    /// within the issuer's validity, an end entity with digitalSignature (an ECDSA key signs the
    /// handshake; nothing is enciphered to it), serverAuth, the names as SANs, its key identifier,
    /// then the issuer's extensions (AKI, CRL, AIA).
    /// </summary>
    public static IEnumerable<PlanStep> Steps(IReadOnlyList<string> names, DateTimeOffset now, int lifetimeDays, IssuerProfile issuer)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(issuer);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(names[0]);
        var subjectDer = ImmutableArray.Create(subject.Build().RawData);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip) && ip.ToString() == name)
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        var sanValue = san.Build().RawData;
        yield return plan => plan with { Subject = subjectDer };
        yield return CertificatePlanner.Validity(now, lifetimeDays);
        yield return CertificatePlanner.WithinIssuer(issuer);
        yield return CertificatePlanner.EndEntity;
        yield return CertificatePlanner.KeyUsages(CertificateKeyUsage.DigitalSignature);
        yield return CertificatePlanner.ExtendedKeyUsages([ServerAuth]);
        yield return plan => plan.With(new PlannedExtension(CertificatePlanner.Oids.SubjectAlternativeName, false, sanValue));
        yield return CertificatePlanner.SubjectKeyIdentifier;
        yield return CertificatePlanner.IssuerExtensions(issuer);
    }

    /// <summary>When a certificate valid from <paramref name="notBefore"/> to <paramref name="notAfter"/> is renewed: once two thirds of its validity have passed.</summary>
    public static DateTimeOffset RenewAt(DateTimeOffset notBefore, DateTimeOffset notAfter) =>
        notBefore + ((notAfter - notBefore) * 2 / 3);
}
