namespace OpenCM.Domain;

/// <summary>Public key algorithms a certificate template may ask for.</summary>
public enum KeyAlgorithm
{
    Rsa,
    EcdsaP256,
    EcdsaP384,
}

/// <summary>Key usage bits as X.509 defines them (RFC 5280 §4.2.1.3), named as .NET names them.</summary>
[Flags]
public enum CertificateKeyUsage
{
    None = 0,
    EncipherOnly = 0x1,
    CrlSign = 0x2,
    KeyCertSign = 0x4,
    KeyAgreement = 0x8,
    DataEncipherment = 0x10,
    KeyEncipherment = 0x20,
    NonRepudiation = 0x40,
    DigitalSignature = 0x80,
    DecipherOnly = 0x8000,
}

/// <summary>
/// One certificate a profile template issues (SPEC §7): how its subject is built, which key the
/// client (or the server) must generate, and what the CA puts in the certificate. The CSR never
/// decides subject or extensions.
/// </summary>
public sealed record CertificateTemplate
{
    /// <summary>The template's common name (the reference's <c>TemplateCommonName</c>).</summary>
    public required string CommonName { get; init; }

    public string FriendlyName { get; init; } = "";

    /// <summary>
    /// The subject as an X.500 name in which <c>{name}</c>, <c>{uuid}</c>, <c>{sid}</c>, <c>{email}</c>
    /// and <c>{upn}</c> stand for the target user's directory attributes, e.g. <c>CN={name},OU=Users,O=Contoso</c>
    /// (a user without the e-mail address or UPN the subject names is refused, naming it).
    /// </summary>
    public string Subject { get; init; } = "CN={name}";

    public KeyAlgorithm KeyAlgorithm { get; init; } = KeyAlgorithm.Rsa;

    /// <summary>RSA modulus size in bits; for ECDSA the curve decides (256 or 384).</summary>
    public int KeySize { get; init; } = 2048;

    /// <summary>
    /// The hash the client signs its CSR with (offered as HashAlgorithmName in the generation
    /// options): SHA256, SHA384 or SHA512. The CA signs certificates with its own hash, chosen by
    /// its key (SHA-384 for P-384 and RSA of 3072 bits or more), whatever the template says.
    /// </summary>
    public string HashAlgorithm { get; init; } = "SHA256";

    public CertificateKeyUsage KeyUsages { get; init; } = CertificateKeyUsage.DigitalSignature | CertificateKeyUsage.KeyEncipherment;

    /// <summary>Extended key usage OIDs, e.g. 1.3.6.1.5.5.7.3.2 for client authentication.</summary>
    public IReadOnlyList<string> ExtendedKeyUsages { get; init; } = ["1.3.6.1.5.5.7.3.2"];

    public int ValidityDays { get; init; } = 365;

    /// <summary>The server generates the key (and then archives it, returning a PFX) instead of the client.</summary>
    public bool ServerGeneratesKey { get; init; }

    /// <summary>The <see cref="SubjectAlternativeNames"/> kind for the user's UPN (an otherName, 1.3.6.1.4.1.311.20.2.3).</summary>
    public const string UpnName = "upn";

    /// <summary>The <see cref="SubjectAlternativeNames"/> kind for the user's e-mail address (an rfc822Name).</summary>
    public const string EmailName = "email";

    /// <summary>SANs filled from the user's directory entry, in this order: <see cref="UpnName"/>, <see cref="EmailName"/> (issue #20).</summary>
    public IReadOnlyList<string> SubjectAlternativeNames { get; init; } = [];

    /// <summary>
    /// Which DNS names, IP addresses and URIs a request may ask for in the subjectAltName (issue
    /// #24, <see cref="Domain.RequestedNames.Check"/>); null, the default, allows none.
    /// </summary>
    public RequestedNameRules? RequestedNames { get; init; }

    /// <summary>The key size in bits the client must generate.</summary>
    public int EffectiveKeySize => KeyAlgorithm switch
    {
        KeyAlgorithm.EcdsaP256 => 256,
        KeyAlgorithm.EcdsaP384 => 384,
        _ => KeySize,
    };
}
