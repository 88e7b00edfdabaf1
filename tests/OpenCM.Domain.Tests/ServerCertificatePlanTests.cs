using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

public class ServerCertificatePlanTests
{
    [Theory]
    [InlineData("cm.contoso.com", "cm.contoso.com")]
    [InlineData(" CM.Contoso.com , cm ,10.0.0.5,cm.contoso.com", "cm.contoso.com|cm|10.0.0.5")]
    [InlineData("localhost,::1", "localhost|::1")]
    public void Names_HostNamesAndAddresses_AreListedLowerCaseOnce(string value, string expected) =>
        Assert.Equal(expected.Split('|'), ServerCertificatePlan.Names(value, "Tls:FromOwnCa"));

    [Theory]
    [InlineData(null)]
    [InlineData(" , ")]
    [InlineData("*.contoso.com")]
    [InlineData("cm contoso")]
    [InlineData("https://cm.contoso.com")]
    [InlineData("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q")]
    public void Names_NotAServerName_IsValidationFailedNamingTheSetting(string? value)
    {
        var refused = Assert.Throws<OpenCmException>(() => ServerCertificatePlan.Names(value, "Tls:FromOwnCa"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Equal("Tls:FromOwnCa", refused.Error.Field);
    }

    [Fact]
    public void Steps_TwoNames_PlanAServerCertificateForBothWithinTheIssuer()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        var issuer = new IssuerProfile(now.AddDays(10), ImmutableArray<PlannedExtension>.Empty);
        var plan = CertificatePlanner.Build("4A01", key.ExportSubjectPublicKeyInfo(), ServerCertificatePlan.Steps(["cm.contoso.com", "10.0.0.5"], now, 30, issuer));

        Assert.Equal("CN=cm.contoso.com", new X500DistinguishedName(plan.Subject.AsSpan()).Name);
        Assert.Equal(now.AddDays(10), plan.NotAfter);
        var san = new X509SubjectAlternativeNameExtension(plan.Extensions.Single(e => e.Oid == CertificatePlanner.Oids.SubjectAlternativeName).Value.AsSpan());
        Assert.Equal(["cm.contoso.com"], san.EnumerateDnsNames());
        Assert.Equal("10.0.0.5", san.EnumerateIPAddresses().Single().ToString());
        var eku = new X509EnhancedKeyUsageExtension(new AsnEncodedData(plan.Extensions.Single(e => e.Oid == CertificatePlanner.Oids.ExtendedKeyUsage).Value.AsSpan()), false);
        Assert.Equal([ServerCertificatePlan.ServerAuth], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
    }

    [Fact]
    public void RenewAt_ThirtyDays_IsTwentyDaysIn()
    {
        var start = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(start.AddDays(20), ServerCertificatePlan.RenewAt(start, start.AddDays(30)));
    }
}
