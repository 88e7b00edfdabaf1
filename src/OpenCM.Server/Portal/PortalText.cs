using System.Globalization;

namespace OpenCM.Server.Portal;

/// <summary>How the portal writes the values people read and say aloud (issue #23.11).</summary>
public static class PortalText
{
    /// <summary>
    /// A request's or profile's short id: the first 8 hex digits of its uuid, what a person reads
    /// out or compares at a glance; pages keep the full uuid in the link and its title.
    /// </summary>
    public static string ShortId(Guid id) => id.ToString("N", CultureInfo.InvariantCulture)[..8];

    /// <summary>A time as the portal shows it: UTC, to the minute.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>A certificate's subject as it reads (RFC 4514 order, as <c>openssl x509 -subject</c> prints it); empty when the stored bytes do not parse.</summary>
    public static string Subject(Application.IssuedCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            using var parsed = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.Der);
            return parsed.Subject;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return "";
        }
    }
}
