using System.Security.Cryptography;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>A certificate the CA signed: the one record of an issued certificate, from the CA through storage to the wire.</summary>
/// <param name="AuthorityId">Which of the server's CAs signed it (<see cref="StoredAuthority.Id"/>); 0 where it is not known (read back from storage).</param>
public sealed record IssuedCertificate(string SerialHex, byte[] Der, string Thumbprint, DateTimeOffset NotBefore, DateTimeOffset NotAfter, int AuthorityId = 0);

/// <summary>A revocation the CA is told of once it is recorded (SPEC §7).</summary>
/// <param name="Reason">RFC 5280 reason code; 8 (removeFromCRL) when certificates on hold are released.</param>
public sealed record Revocation(IReadOnlyList<string> Serials, int Reason, DateTimeOffset At);

/// <summary>A key the server generated for a template whose keys it makes; the private half is wiped on dispose.</summary>
public sealed class GeneratedKey : IDisposable
{
    public GeneratedKey(byte[] subjectPublicKeyInfo, byte[] pkcs8PrivateKey)
    {
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        Pkcs8PrivateKey = pkcs8PrivateKey;
    }

    public byte[] SubjectPublicKeyInfo { get; }

    public byte[] Pkcs8PrivateKey { get; }

    public void Dispose() => CryptographicOperations.ZeroMemory(Pkcs8PrivateKey);
}

/// <summary>
/// The certificate authority as the use cases need it (SPEC §7), after smallstep's
/// <c>cas/apiv1</c>: it signs a plan and hears of revocations, nothing more. What a certificate
/// says is decided before it reaches the CA (<see cref="CertificatePlan"/>, built in Domain), so
/// an HSM-backed or remote CA implements these two calls and interprets no template. Use cases
/// record a serial and its plan before they ask for its signature (claim, record, then sign), so
/// that every certificate a CA signs is known and can be revoked.
/// </summary>
public interface ICertificateAuthority
{
    /// <summary>
    /// What the CA that signs new certificates puts in every one (the end of its validity, its key
    /// identifier, where it publishes): plans are built under it. It changes when another CA
    /// becomes the active one (issue #20.1, rollover).
    /// </summary>
    IssuerProfile Issuer { get; }

    /// <summary>
    /// Signs <paramref name="plan"/> as it stands: its serial, subject, validity, key and
    /// extensions, in that order, with only the issuer's name, the signature algorithm and the
    /// signature added. The use case checks the result against the plan before storing it.
    /// </summary>
    Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default);

    /// <summary>Tells the CA of a revocation already recorded, so that it publishes it.</summary>
    Task RevokeAsync(Revocation revocation, CancellationToken ct = default);
}

/// <summary>Checks a client's PKCS#10 request against its template, before anything is claimed.</summary>
public interface ICertificateRequestChecker
{
    /// <summary>
    /// Encoding, proof of possession, key algorithm and size as the template says. Refusals are
    /// ValidationFailed naming <paramref name="field"/>.
    /// </summary>
    /// <returns>The key to certify, as a DER SubjectPublicKeyInfo; nothing else of the request is used.</returns>
    byte[] Check(string csr, CertificateTemplate template, string field);
}

/// <summary>Makes keys for templates whose keys the server makes.</summary>
public interface IKeyGenerator
{
    /// <summary>A key as the template says (algorithm, size).</summary>
    GeneratedKey Generate(CertificateTemplate template);
}

/// <summary>The answer encodings of an issued certificate (SPEC §7).</summary>
public interface ICertificatePackaging
{
    /// <summary>A certs-only PKCS#7 holding the certificate and the CA chain.</summary>
    byte[] Pkcs7(byte[] certificateDer);

    /// <summary>A PFX of a certificate, its private key and the CA, under <paramref name="password"/>.</summary>
    byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password);
}
