using System.Formats.Asn1;
using System.Security.Cryptography;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// What a front-end asks to have certified: a serial, the key (from a checked CSR or made on the
/// server), the template and the subject's directory attributes, at <paramref name="Now"/>. Every
/// front-end (REST, the portal, a later ACME or EST) fills this one input (Vault's
/// <c>sign_cert.go</c>); <see cref="Plan"/> turns it into the plan the CA signs.
/// </summary>
/// <param name="Names">The names a device or host request asked for, accepted against the template's rules (issue #24; decision 0014); none for a user's request.</param>
public sealed record CertificateOrder(string SerialHex, byte[] SubjectPublicKeyInfo, CertificateTemplate Template, SubjectAttributes Subject, DateTimeOffset Now, AcceptedNames? Names = null)
{
    /// <summary>The template's plan for this order under <paramref name="issuer"/> (<see cref="CertificatePlanner.ForTemplate(CertificateTemplate, SubjectAttributes, DateTimeOffset, IssuerProfile, AcceptedNames)"/>).</summary>
    public CertificatePlan Plan(IssuerProfile issuer) =>
        CertificatePlanner.Build(SerialHex, SubjectPublicKeyInfo, CertificatePlanner.ForTemplate(Template, Subject, Now, issuer, Names ?? AcceptedNames.None));
}

/// <summary>
/// The issuance steps the use cases run (docs/issuance-cycle.md), each through its own narrow
/// port: check a CSR, make a key, plan a certificate, have the CA sign the plan and check what it
/// signed against the plan, package the result. The CA sees only plans.
/// </summary>
public sealed class CertificateIssuance
{
    private readonly ICertificateAuthority _ca;
    private readonly ICertificateRequestChecker _requests;
    private readonly IKeyGenerator _keys;
    private readonly ICertificatePackaging _packaging;

    public CertificateIssuance(ICertificateAuthority ca, ICertificateRequestChecker requests, IKeyGenerator keys, ICertificatePackaging packaging)
    {
        _ca = ca;
        _requests = requests;
        _keys = keys;
        _packaging = packaging;
    }

    /// <summary>A fresh serial: 16 bytes (127 bits) from the CSPRNG, positive, without a leading zero byte, as upper-case hex.</summary>
    public static string NewSerialNumber() => Convert.ToHexString(NewSerialBytes());

    /// <summary>The bytes of <see cref="NewSerialNumber"/>.</summary>
    public static byte[] NewSerialBytes()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    /// <inheritdoc cref="ICertificateRequestChecker.Check"/>
    public byte[] CheckRequest(string csr, CertificateTemplate template, string field) => _requests.Check(csr, template, field);

    /// <inheritdoc cref="IKeyGenerator.Generate"/>
    public GeneratedKey GenerateKey(CertificateTemplate template) => _keys.Generate(template);

    /// <summary>The plan of an order under the active CA's profile; refusals (a subject the template cannot build) are typed errors.</summary>
    public CertificatePlan Plan(CertificateOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        return order.Plan(_ca.Issuer);
    }

    /// <summary>
    /// Has the CA sign <paramref name="plan"/>, then checks the certificate against it: serial,
    /// subject, validity, key and extensions must be what was planned (and recorded), or the
    /// certificate is not stored and the execution fails.
    /// </summary>
    public async Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var issued = await _ca.SignAsync(plan, ct).ConfigureAwait(false);
        if (Mismatch(plan, issued) is { } part)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Internal,
                $"The CA signed serial {plan.SerialHex} with a {part} other than planned; the certificate is not stored."));
        }

        return issued;
    }

    /// <inheritdoc cref="ICertificatePackaging.Pkcs7"/>
    public byte[] Pkcs7(byte[] certificateDer) => _packaging.Pkcs7(certificateDer);

    /// <inheritdoc cref="ICertificatePackaging.Pfx"/>
    public byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password) => _packaging.Pfx(certificateDer, pkcs8PrivateKey, password);

    // The part of the signed certificate (or of the CA's account of it) that is not the plan's, or null.
    private static string? Mismatch(CertificatePlan plan, IssuedCertificate issued)
    {
        CertificatePlan signed;
        try
        {
            signed = CertificatePlan.Of(issued.Der);
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException or FormatException)
        {
            return "encoding";
        }

        return plan.Difference(signed)
            ?? (string.Equals(issued.SerialHex, plan.SerialHex, StringComparison.OrdinalIgnoreCase) && issued.NotBefore == plan.NotBefore && issued.NotAfter == plan.NotAfter
                ? null
                : "record");
    }
}
