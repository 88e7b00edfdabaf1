using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Domain;

/// <summary>Who a certificate is for: the directory attributes a template's subject may use.</summary>
public sealed record SubjectAttributes(string Name, Guid Uuid, string Sid);

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
    private static readonly SubjectAttributes Sample = new("sample.user", new Guid("6f1c0b2a-0000-4000-8000-000000000001"), "S-1-5-21-1-2-3-1001");
}
