using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority;

/// <summary>A revoked certificate, for the CRL.</summary>
public sealed record RevokedEntry(byte[] SerialNumber, DateTimeOffset RevokedAt, X509RevocationReason Reason);

/// <summary>The response encodings of SPEC §7 and the CRL.</summary>
public static class Encodings
{
    /// <summary>
    /// A certs-only PKCS#7 (SignedData without signers, RFC 5652 §5) holding the certificate and
    /// the CA's, written directly (issue #11.3): nothing is parsed again to say what is known.
    /// </summary>
    public static byte[] Pkcs7(byte[] certificateDer, ICertificateSigner ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return Pkcs7(certificateDer, [ca.Certificate.RawDataMemory]);
    }

    /// <summary>
    /// A certs-only PKCS#7 holding the certificate and then <paramref name="chain"/>: its issuing CA
    /// and the certificates above it, up to the root (issue #20.1: a subordinate CA's chain).
    /// </summary>
    public static byte[] Pkcs7(byte[] certificateDer, IReadOnlyList<ReadOnlyMemory<byte>> chain)
    {
        ArgumentNullException.ThrowIfNull(certificateDer);
        ArgumentNullException.ThrowIfNull(chain);
        var writer = new AsnWriter(AsnEncodingRules.DER, certificateDer.Length + chain.Sum(c => c.Length) + 64);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier("1.2.840.113549.1.7.2"); // signedData
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (writer.PushSequence())
            {
                writer.WriteInteger(1);
                using (writer.PushSetOf())
                {
                    // no digest algorithms: there are no signers
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier("1.2.840.113549.1.7.1"); // data, empty (as .NET and Windows write it)
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    {
                        writer.WriteOctetString([]);
                    }
                }

                // The certificates, the issued one first: written as a sequence so that DER's
                // sorting of SET OF does not reorder them (the same bytes as .NET's export).
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    writer.WriteEncodedValue(certificateDer);
                    foreach (var certificate in chain)
                    {
                        writer.WriteEncodedValue(certificate.Span);
                    }
                }

                using (writer.PushSetOf())
                {
                    // no signer infos
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>A PFX with the certificate, its private key and the CA, protected by <paramref name="password"/> (AES-256, PBKDF2).</summary>
    public static byte[] Pfx(byte[] certificateDer, AsymmetricAlgorithm key, ICertificateSigner ca, string password)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return Pfx(certificateDer, key, [ca.Certificate], password);
    }

    /// <summary>A PFX with the certificate, its private key and <paramref name="chain"/> (its CA and those above it).</summary>
    public static byte[] Pfx(byte[] certificateDer, AsymmetricAlgorithm key, IReadOnlyList<X509Certificate2> chain, string password)
    {
        ArgumentNullException.ThrowIfNull(chain);
        using var publicOnly = X509CertificateLoader.LoadCertificate(certificateDer);
        using var withKey = key switch
        {
            RSA rsa => publicOnly.CopyWithPrivateKey(rsa),
            ECDsa ec => publicOnly.CopyWithPrivateKey(ec),
            _ => throw new CryptographicException("Unsupported key."),
        };
        var collection = new X509Certificate2Collection { withKey };
        foreach (var certificate in chain)
        {
            collection.Add(certificate);
        }

        var pbe = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000);
        return collection.ExportPkcs12(pbe, password);
    }

    /// <summary>A CRL signed by the CA listing <paramref name="revoked"/> (SPEC §7).</summary>
    public static byte[] Crl(ICertificateSigner ca, IEnumerable<RevokedEntry> revoked, BigInteger number, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(revoked);
        var builder = new CertificateRevocationListBuilder();
        foreach (var entry in revoked)
        {
            builder.AddEntry(entry.SerialNumber, entry.RevokedAt, entry.Reason);
        }

        var akid = X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(IssuingAuthority.KeyIdentifier(ca.Certificate));
        return builder.Build(ca.Certificate.SubjectName, ca.Generator, number, nextUpdate, ca.HashAlgorithm, akid, thisUpdate);
    }
}
