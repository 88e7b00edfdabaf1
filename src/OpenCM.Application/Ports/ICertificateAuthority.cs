using System.Security.Cryptography;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>A certificate the CA signed: the one record of an issued certificate, from the CA through storage to the wire.</summary>
public sealed record IssuedCertificate(string SerialHex, byte[] Der, string Thumbprint, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>What the CA is asked to sign: a serial already recorded, the key to certify (a DER SubjectPublicKeyInfo), the template and the subject.</summary>
public sealed record CertificateOrder(string SerialHex, byte[] SubjectPublicKeyInfo, CertificateTemplate Template, SubjectAttributes Subject, DateTimeOffset Now);

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
/// <c>cas/apiv1</c>: the embedded CA implements it; an HSM-backed or remote CA can. Use cases
/// record a serial before they ask for its signature (claim, record, then sign), so that every
/// certificate a CA signs is known and can be revoked.
/// </summary>
public interface ICertificateAuthority
{
    /// <summary>
    /// Checks a PKCS#10 request against the template before anything is claimed: encoding, proof
    /// of possession, key algorithm and size. Refusals are ValidationFailed naming <paramref name="field"/>.
    /// </summary>
    /// <returns>The key to certify, as a DER SubjectPublicKeyInfo; nothing else of the request is used.</returns>
    byte[] CheckCertificateRequest(string csr, CertificateTemplate template, string field);

    /// <summary>Generates a key as the template says, for a certificate whose key the server makes.</summary>
    GeneratedKey GenerateKey(CertificateTemplate template);

    /// <summary>A fresh serial number, to be recorded before it is signed.</summary>
    string NewSerialNumber();

    /// <summary>Signs a certificate for the order's recorded serial.</summary>
    Task<IssuedCertificate> SignAsync(CertificateOrder order, CancellationToken ct = default);

    /// <summary>Tells the CA of a revocation already recorded, so that it publishes it.</summary>
    Task RevokeAsync(Revocation revocation, CancellationToken ct = default);

    /// <summary>A certs-only PKCS#7 holding the certificate and the CA chain.</summary>
    byte[] Pkcs7(byte[] certificateDer);

    /// <summary>A PFX of a certificate, its private key and the CA, under <paramref name="password"/>.</summary>
    byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password);
}
