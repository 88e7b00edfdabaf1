using System.Collections.Immutable;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Domain;

/// <summary>An extension as the certificate will carry it: its OID, whether it is critical, and its DER value.</summary>
public sealed record PlannedExtension(string Oid, bool Critical, ImmutableArray<byte> Value)
{
    public PlannedExtension(string oid, bool critical, ReadOnlySpan<byte> value)
        : this(oid, critical, ImmutableArray.Create(value.ToArray()))
    {
    }
}

/// <summary>
/// What an issuer puts in every certificate it signs: the end of its own validity (no
/// certificate outlives its CA) and its extensions (authority key identifier, CRL distribution
/// points; AIA or OCSP when a CA has them), in the order they are written.
/// </summary>
public sealed record IssuerProfile(DateTimeOffset NotAfter, ImmutableArray<PlannedExtension> Extensions);

/// <summary>
/// Everything a certificate says that is decided before it is signed (issue #17): serial,
/// subject, validity, key and extensions (subject alternative names among them), in the order
/// they are written. Built from the template and the request by <see cref="PlanStep"/>s, recorded
/// (its <see cref="Sha256Hex"/>) with the reserved serial, signed by a CA that adds only what is
/// its own (issuer name, signature algorithm, signature), and checked against the certificate
/// that comes back (<see cref="Difference"/>) before the certificate is stored. After boulder,
/// which records what it intends to sign, and Vault's <c>sign_cert.go</c>, where every front-end
/// fills one input to one signing function.
/// </summary>
public sealed record CertificatePlan
{
    public CertificatePlan(string serialHex, ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        SerialHex = serialHex.ToUpperInvariant();
        SubjectPublicKeyInfo = ImmutableArray.Create(subjectPublicKeyInfo.ToArray());
    }

    /// <summary>The serial, upper-case hex, as recorded before signing.</summary>
    public string SerialHex { get; init; }

    /// <summary>The key to certify, a DER SubjectPublicKeyInfo.</summary>
    public ImmutableArray<byte> SubjectPublicKeyInfo { get; init; }

    /// <summary>The subject's DER Name; empty until a step sets it.</summary>
    public ImmutableArray<byte> Subject { get; init; } = [];

    public DateTimeOffset NotBefore { get; init; }

    public DateTimeOffset NotAfter { get; init; }

    /// <summary>The extensions in the order the certificate carries them; one per OID.</summary>
    public ImmutableList<PlannedExtension> Extensions { get; init; } = [];

    /// <summary>The plan with <paramref name="extension"/> appended.</summary>
    public CertificatePlan With(PlannedExtension extension) => this with { Extensions = Extensions.Add(extension) };

    /// <summary>
    /// SHA-256 of the plan's DER form, SEQUENCE { serial, subject, SEQUENCE { notBefore, notAfter
    /// as GeneralizedTime }, subjectPublicKeyInfo, SEQUENCE OF Extension }: what is recorded with
    /// the reserved serial, the same for the same plan whoever signs it.
    /// </summary>
    public string Sha256Hex() => Convert.ToHexString(SHA256.HashData(Encode()));

    /// <summary>The plan's DER form (see <see cref="Sha256Hex"/>).</summary>
    public byte[] Encode()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, 512);
        using (writer.PushSequence())
        {
            writer.WriteIntegerUnsigned(Convert.FromHexString(SerialHex));
            writer.WriteEncodedValue(Subject.AsSpan());
            using (writer.PushSequence())
            {
                writer.WriteGeneralizedTime(NotBefore, omitFractionalSeconds: true);
                writer.WriteGeneralizedTime(NotAfter, omitFractionalSeconds: true);
            }

            writer.WriteEncodedValue(SubjectPublicKeyInfo.AsSpan());
            using (writer.PushSequence())
            {
                foreach (var e in Extensions)
                {
                    WriteExtension(writer, e);
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>Writes an extension as RFC 5280 §4.1 encodes it (critical written only when TRUE, as DER wants).</summary>
    public static void WriteExtension(AsnWriter writer, PlannedExtension extension)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(extension);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(extension.Oid);
            if (extension.Critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(extension.Value.AsSpan());
        }
    }

    /// <summary>
    /// The plan a signed certificate carries out: its serial, subject, validity, key and
    /// extensions, read from its TBSCertificate. Anything that is not a certificate is an error.
    /// </summary>
    public static CertificatePlan Of(ReadOnlyMemory<byte> certificateDer)
    {
        var certificate = new AsnReader(certificateDer, AsnEncodingRules.DER).ReadSequence();
        var tbs = certificate.ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
        {
            _ = tbs.ReadEncodedValue(); // version
        }

        var serial = tbs.ReadIntegerBytes().ToArray();
        _ = tbs.ReadEncodedValue(); // signature algorithm: the CA's
        _ = tbs.ReadEncodedValue(); // issuer: the CA's
        var validity = tbs.ReadSequence();
        var notBefore = ReadTime(validity);
        var notAfter = ReadTime(validity);
        var subject = tbs.ReadEncodedValue();
        var spki = tbs.ReadEncodedValue();
        var extensions = ImmutableList.CreateBuilder<PlannedExtension>();
        var extensionsTag = new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true);
        while (tbs.HasData)
        {
            if (!tbs.PeekTag().HasSameClassAndValue(extensionsTag))
            {
                _ = tbs.ReadEncodedValue(); // issuer or subject unique id: never planned, compared as absent below
                extensions.Add(new PlannedExtension("unique-id", false, ReadOnlySpan<byte>.Empty));
                continue;
            }

            var list = tbs.ReadSequence(extensionsTag).ReadSequence();
            while (list.HasData)
            {
                var e = list.ReadSequence();
                var oid = e.ReadObjectIdentifier();
                var critical = e.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && e.ReadBoolean();
                extensions.Add(new PlannedExtension(oid, critical, e.ReadOctetString()));
            }
        }

        // The serial as a positive INTEGER's content; a leading zero byte is sign, not value.
        var value = serial.Length > 1 && serial[0] == 0 ? serial.AsSpan(1) : serial;
        return new CertificatePlan(Convert.ToHexString(value), spki.Span)
        {
            Subject = ImmutableArray.Create(subject.ToArray()),
            NotBefore = notBefore,
            NotAfter = notAfter,
            Extensions = extensions.ToImmutable(),
        };
    }

    /// <summary>
    /// The first part of <paramref name="certificate"/> (the plan a signed certificate carries out, <see cref="Of"/>) that differs from this plan ("serial",
    /// "subject", "validity", "key", "extensions"), or null when the certificate is what was planned.
    /// </summary>
    public string? Difference(CertificatePlan certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!string.Equals(SerialHex, certificate.SerialHex, StringComparison.Ordinal))
        {
            return "serial";
        }

        if (!Subject.AsSpan().SequenceEqual(certificate.Subject.AsSpan()))
        {
            return "subject";
        }

        if (NotBefore != certificate.NotBefore || NotAfter != certificate.NotAfter)
        {
            return "validity";
        }

        if (!SubjectPublicKeyInfo.AsSpan().SequenceEqual(certificate.SubjectPublicKeyInfo.AsSpan()))
        {
            return "key";
        }

        return Extensions.Count == certificate.Extensions.Count
            && Extensions.Zip(certificate.Extensions).All(p => p.First.Oid == p.Second.Oid && p.First.Critical == p.Second.Critical && p.First.Value.AsSpan().SequenceEqual(p.Second.Value.AsSpan()))
            ? null
            : "extensions";
    }

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
}

/// <summary>One step of building a plan, after smallstep's modifiers: takes a plan, returns it changed.</summary>
public delegate CertificatePlan PlanStep(CertificatePlan plan);

/// <summary>
/// Builds plans by small composable steps (issue #17), after smallstep's validators and
/// modifiers (<c>authority/provisioner</c>, <c>authority/tls.go</c>): the template's steps come
/// first, then whatever a front-end or an issuer adds (a SAN, AIA, OCSP no-check), then one check
/// of the whole. A step is pure; the same inputs make the same plan, and so the same TBS bytes.
/// </summary>
public static class CertificatePlanner
{
    /// <summary>The OIDs of the extensions the steps write.</summary>
    public static class Oids
    {
        public const string BasicConstraints = "2.5.29.19";
        public const string KeyUsage = "2.5.29.15";
        public const string ExtendedKeyUsage = "2.5.29.37";
        public const string SubjectAlternativeName = "2.5.29.17";
        public const string SubjectKeyIdentifier = "2.5.29.14";
    }

    /// <summary>Applies <paramref name="steps"/> in order to an empty plan for the serial and key, then checks the result.</summary>
    public static CertificatePlan Build(string serialHex, ReadOnlySpan<byte> subjectPublicKeyInfo, IEnumerable<PlanStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var plan = new CertificatePlan(serialHex, subjectPublicKeyInfo);
        foreach (var step in steps)
        {
            plan = step(plan);
        }

        return Checked(plan);
    }

    /// <summary>
    /// The steps of a certificate template (SPEC §7: the CA, not the CSR, decides the subject and
    /// extensions), in the order the certificate has always carried them: subject, validity within
    /// the issuer's, basic constraints (end entity), key usage, extended key usage, subject key
    /// identifier, then the issuer's extensions.
    /// </summary>
    public static IEnumerable<PlanStep> ForTemplate(CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, IssuerProfile issuer) =>
        ForTemplate(template, subject, now, issuer, AcceptedNames.None);

    /// <summary>
    /// The steps of a certificate template for a request that asked for <paramref name="requested"/>
    /// names (issue #24; accepted by <see cref="RequestedNames.Check"/> against the template's
    /// rules): as above, with those names in the same subjectAltName as the directory's.
    /// </summary>
    public static IEnumerable<PlanStep> ForTemplate(CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, IssuerProfile issuer, AcceptedNames requested)
    {
        ArgumentNullException.ThrowIfNull(requested);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(issuer);
        yield return Subject(template, subject);
        yield return Validity(now, template.ValidityDays);
        yield return WithinIssuer(issuer);
        yield return EndEntity;
        yield return KeyUsages(template.KeyUsages);
        if (template.ExtendedKeyUsages.Count > 0)
        {
            yield return ExtendedKeyUsages(template.ExtendedKeyUsages);
        }

        if (template.SubjectAlternativeNames.Count > 0)
        {
            yield return DirectoryAlternativeNames(template.SubjectAlternativeNames, subject);
        }

        if (requested.Count > 0)
        {
            yield return RequestedAlternativeNames(requested);
        }

        yield return SubjectKeyIdentifier;
        yield return IssuerExtensions(issuer);
    }

    /// <summary>The subject the template gives the user (<see cref="CertificateSubject.Build"/>).</summary>
    public static PlanStep Subject(CertificateTemplate template, SubjectAttributes subject) =>
        plan => plan with { Subject = ImmutableArray.Create(CertificateSubject.Build(template, subject).RawData) };

    /// <summary>
    /// From a minute before <paramref name="now"/> (clients whose clocks run slow) for
    /// <paramref name="days"/>; whole seconds, as X.509 encodes them, so that what is stored equals the certificate.
    /// </summary>
    public static PlanStep Validity(DateTimeOffset now, int days) =>
        plan => plan with { NotBefore = WholeSeconds(now.AddMinutes(-1)), NotAfter = WholeSeconds(now.AddDays(days)) };

    /// <summary>Never outlive the issuer: the end is cut to the issuer's.</summary>
    public static PlanStep WithinIssuer(IssuerProfile issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        return plan => plan.NotAfter > issuer.NotAfter ? plan with { NotAfter = WholeSeconds(issuer.NotAfter) } : plan;
    }

    /// <summary>basicConstraints, critical: an end entity, SEQUENCE {} (cA FALSE is the default and DER leaves it out).</summary>
    public static CertificatePlan EndEntity(CertificatePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.With(new PlannedExtension(Oids.BasicConstraints, true, EndEntityValue));
    }

    private static readonly ImmutableArray<byte> EndEntityValue = [0x30, 0x00];

    /// <summary>keyUsage, critical.</summary>
    public static PlanStep KeyUsages(CertificateKeyUsage usages) =>
        plan => plan.With(new PlannedExtension(Oids.KeyUsage, true, new X509KeyUsageExtension((X509KeyUsageFlags)usages, true).RawData));

    /// <summary>extKeyUsage, not critical, the OIDs in the template's order.</summary>
    public static PlanStep ExtendedKeyUsages(IReadOnlyList<string> oids)
    {
        ArgumentNullException.ThrowIfNull(oids);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var oid in oids)
            {
                writer.WriteObjectIdentifier(oid);
            }
        }

        var value = writer.Encode();
        return plan => plan.With(new PlannedExtension(Oids.ExtendedKeyUsage, false, value));
    }

    /// <summary>subjectAltName, not critical (the subject is not empty): e-mail addresses, DNS names and URIs.</summary>
    public static PlanStep AlternativeNames(IReadOnlyList<string> emails, IReadOnlyList<string> dnsNames, IReadOnlyList<Uri> uris)
    {
        ArgumentNullException.ThrowIfNull(emails);
        ArgumentNullException.ThrowIfNull(dnsNames);
        ArgumentNullException.ThrowIfNull(uris);
        var builder = new SubjectAlternativeNameBuilder();
        foreach (var e in emails)
        {
            builder.AddEmailAddress(e);
        }

        foreach (var d in dnsNames)
        {
            builder.AddDnsName(d);
        }

        foreach (var u in uris)
        {
            builder.AddUri(u);
        }

        var value = builder.Build().RawData;
        return plan => plan.With(new PlannedExtension(Oids.SubjectAlternativeName, false, value));
    }

    /// <summary>
    /// subjectAltName, not critical, from the user's directory entry (issue #20): <c>upn</c> is an
    /// otherName of type 1.3.6.1.4.1.311.20.2.3 holding the UPN as a UTF8String (what Windows
    /// smart card logon maps to the account), <c>email</c> an rfc822Name. A user without the value
    /// is refused, naming it (a 400), never given a certificate with an empty SAN.
    /// </summary>
    public static PlanStep DirectoryAlternativeNames(IReadOnlyList<string> kinds, SubjectAttributes subject)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        ArgumentNullException.ThrowIfNull(subject);
        var builder = new SubjectAlternativeNameBuilder();
        foreach (var kind in kinds)
        {
            var (value, what) = kind == CertificateTemplate.UpnName ? (subject.Upn, "user principal name") : (subject.Email, "e-mail address");
            if (string.IsNullOrEmpty(value))
            {
                throw new OpenCmException(DomainError.Validation("subjectAlternativeNames", $"The template's certificate carries the user's {what} (a {kind} SAN), and the user has no {what} in the directory."));
            }

            try
            {
                if (kind == CertificateTemplate.UpnName)
                {
                    builder.AddUserPrincipalName(value);
                }
                else
                {
                    builder.AddEmailAddress(value);
                }
            }
            catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException)
            {
                // A directory value the name cannot hold (an rfc822Name is ASCII): a refusal, never a 500.
                throw new OpenCmException(DomainError.Validation("subjectAlternativeNames", $"The user's {what} cannot be put in a certificate: {ex.Message}"));
            }
        }

        var encoded = builder.Build().RawData;
        return plan => plan.With(new PlannedExtension(Oids.SubjectAlternativeName, false, encoded));
    }

    /// <summary>
    /// The requested names a template accepted (issue #24, <see cref="RequestedNames.Check"/>) in
    /// the subjectAltName, after whatever names it already holds: a plan has ONE subjectAltName
    /// (RFC 5280 §4.2: an extension at most once), so the directory's UPN and e-mail address and
    /// these share it, in that order. dNSName and uniformResourceIdentifier are IA5Strings, an
    /// iPAddress the address's 4 or 16 octets (RFC 5280 §4.2.1.6). Critical when the subject is
    /// empty, as §4.2.1.6 requires; otherwise not.
    /// </summary>
    public static PlanStep RequestedAlternativeNames(AcceptedNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var added = new List<byte[]>();
        foreach (var dns in names.DnsNames)
        {
            added.Add(GeneralName(w => w.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2))));
        }

        foreach (var ip in names.IpAddresses)
        {
            added.Add(GeneralName(w => w.WriteOctetString(ip.GetAddressBytes(), new Asn1Tag(TagClass.ContextSpecific, 7))));
        }

        foreach (var uri in names.Uris)
        {
            added.Add(GeneralName(w => w.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6))));
        }

        return plan =>
        {
            if (added.Count == 0)
            {
                return plan;
            }

            var index = plan.Extensions.FindIndex(e => e.Oid == Oids.SubjectAlternativeName);
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                if (index >= 0)
                {
                    var existing = new AsnReader(plan.Extensions[index].Value.AsMemory(), AsnEncodingRules.DER).ReadSequence();
                    while (existing.HasData)
                    {
                        writer.WriteEncodedValue(existing.ReadEncodedValue().Span);
                    }
                }

                foreach (var name in added)
                {
                    writer.WriteEncodedValue(name);
                }
            }

            var critical = plan.Subject.AsSpan().SequenceEqual(EmptyName.AsSpan()) || (index >= 0 && plan.Extensions[index].Critical);
            var extension = new PlannedExtension(Oids.SubjectAlternativeName, critical, writer.Encode());
            return plan with { Extensions = index >= 0 ? plan.Extensions.SetItem(index, extension) : plan.Extensions.Add(extension) };
        };
    }

    private static readonly ImmutableArray<byte> EmptyName = [0x30, 0x00];

    private static byte[] GeneralName(Action<AsnWriter> write)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        write(writer);
        return writer.Encode();
    }

    /// <summary>subjectKeyIdentifier: SHA-1 of the subjectPublicKey's bits (RFC 5280 §4.2.1.2 method 1), as .NET computes it.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "RFC 5280 §4.2.1.2 method 1 names SHA-1 for key identifiers; an identifier, not a protection.")]
    public static CertificatePlan SubjectKeyIdentifier(CertificatePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var spki = new AsnReader(plan.SubjectPublicKeyInfo.AsMemory(), AsnEncodingRules.DER).ReadSequence();
        _ = spki.ReadEncodedValue();
        var key = spki.ReadBitString(out _);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(SHA1.HashData(key));
        return plan.With(new PlannedExtension(Oids.SubjectKeyIdentifier, false, writer.Encode()));
    }

    /// <summary>The issuer's own extensions, in its order.</summary>
    public static PlanStep IssuerExtensions(IssuerProfile issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        return plan => plan with { Extensions = plan.Extensions.AddRange(issuer.Extensions) };
    }

    // One check of the whole, after every step: a subject, a validity that has not ended before it starts, one extension per OID.
    private static CertificatePlan Checked(CertificatePlan plan)
    {
        if (plan.Subject.IsDefaultOrEmpty)
        {
            throw new InvalidOperationException("A certificate plan needs a subject; no step set one.");
        }

        if (plan.NotAfter < plan.NotBefore)
        {
            throw new InvalidOperationException("The CA's certificate expires before the certificate would start.");
        }

        if (plan.Extensions.Select(e => e.Oid).Distinct(StringComparer.Ordinal).Count() != plan.Extensions.Count)
        {
            throw new InvalidOperationException("A certificate plan carries an extension twice.");
        }

        return plan;
    }

    private static DateTimeOffset WholeSeconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
