using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Domain;

/// <summary>Who a certificate is for: the directory attributes a template's subject may use.</summary>
public sealed record SubjectAttributes(string Name, Guid Uuid, string Sid)
{
    /// <summary>The user's e-mail address, when the directory has one: <c>{email}</c> (issue #20.6).</summary>
    public string? Email { get; init; }

    /// <summary>The user's principal name, when the directory has one: <c>{upn}</c> (issue #20.6).</summary>
    public string? Upn { get; init; }

    /// <summary>
    /// The first name a device or host request asked for and the template accepted (a DNS name, else
    /// an address, else a URI): <c>{requested}</c> (issue #24; e.g. <c>CN={requested}</c> for a TLS server).
    /// </summary>
    public string? Requested { get; init; }
}

/// <summary>The subject a certificate template gives a user (SPEC §7: the CA, not the CSR, decides it).</summary>
public static class CertificateSubject
{
    /// <summary>The subject name a template gives a user; attribute values are escaped, never parsed as syntax.</summary>
    public static X500DistinguishedName Build(CertificateTemplate template, SubjectAttributes subject)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(subject);
        var builder = new X500DistinguishedNameBuilder();
        foreach (var rdn in template.Subject.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = rdn.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new OpenCmException(DomainError.Validation("subject", $"'{rdn}' in the template subject is not TYPE=value."));
            }

            var value = rdn[(eq + 1)..]
                .Replace("{name}", subject.Name, StringComparison.Ordinal)
                .Replace("{uuid}", subject.Uuid.ToString("D"), StringComparison.Ordinal)
                .Replace("{sid}", subject.Sid, StringComparison.Ordinal);
            value = Attribute(value, "{email}", subject.Email, "the user has no e-mail address in the directory");
            value = Attribute(value, "{upn}", subject.Upn, "the user has no user principal name in the directory");
            value = Attribute(value, "{requested}", subject.Requested, "the request asked for no name (only a device or host request that asks for a DNS name, address or URI has one)");
            try
            {
                switch (rdn[..eq].Trim().ToUpperInvariant())
                {
                    case "CN": builder.AddCommonName(value); break;
                    case "O": builder.AddOrganizationName(value); break;
                    case "OU": builder.AddOrganizationalUnitName(value); break;
                    case "C": builder.AddCountryOrRegion(value); break;
                    case "L": builder.AddLocalityName(value); break;
                    case "ST": builder.AddStateOrProvinceName(value); break;
                    case "DC": builder.AddDomainComponent(value); break;
                    case "E": builder.AddEmailAddress(value); break;
                    default:
                        throw new OpenCmException(DomainError.Validation("subject", $"The attribute type '{rdn[..eq]}' is not supported in a template subject."));
                }
            }
            catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException)
            {
                // A value the attribute cannot hold (C is two letters): a refusal, never a 500.
                throw new OpenCmException(DomainError.Validation("subject", $"'{rdn}' in the template subject cannot be encoded: {ex.Message}"));
            }
        }

        return builder.Build();
    }

    // {email}, {upn} and {requested} only where the user or request has them: one without is refused,
    // naming what is missing (a 400), rather than given a certificate with an empty attribute (issue #20.6).
    private static string Attribute(string value, string placeholder, string? attribute, string missing)
    {
        if (!value.Contains(placeholder, StringComparison.Ordinal))
        {
            return value;
        }

        return string.IsNullOrEmpty(attribute)
            ? throw new OpenCmException(DomainError.Validation("subject", $"The template's subject names {placeholder}, and {missing}."))
            : value.Replace(placeholder, attribute, StringComparison.Ordinal);
    }

    /// <summary>
    /// Checks that a template's subject can be built, with sample directory attributes, so that a
    /// template is refused when it is imported rather than when a request is executed (issue #17).
    /// </summary>
    public static DomainError? Check(CertificateTemplate template)
    {
        try
        {
            _ = Build(template, Sample);
            return null;
        }
        catch (OpenCmException ex)
        {
            return ex.Error;
        }
    }

    // Attributes shaped like a real user's: a name, a GUID and a domain SID.
    private static readonly SubjectAttributes Sample = new("sample.user", new Guid("6f1c0b2a-0000-4000-8000-000000000001"), "S-1-5-21-1-2-3-1001")
    {
        Email = "sample.user@example.com",
        Upn = "sample.user@example.com",
        Requested = "host.example.com",
    };
}
