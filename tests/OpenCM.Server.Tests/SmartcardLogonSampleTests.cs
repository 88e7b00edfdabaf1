using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Tests;

/// <summary>
/// samples/smartcard-logon.yaml (issue #20): it imports, and its certificate is what Microsoft
/// asks of a non-Microsoft CA's smart card logon certificate (the same settings are issued and
/// checked with openssl in OpenCM.Authority.Tests).
/// </summary>
public sealed class SmartcardLogonSampleTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Import_SmartcardLogonSample_UpnSanSmartcardLogonAndClientAuthDigitalSignature()
    {
        var file = Path.Combine(RepositoryRoot(), "samples", "smartcard-logon.yaml");
        var imported = await server.Services.GetRequiredService<TemplateService>().ImportAsync(await File.ReadAllTextAsync(file), "smartcard-logon.yaml", Guid.Empty, "test");

        Assert.True(imported.IsSmartcardProfileTemplate);
        var certificate = Assert.Single(imported.CertificateTemplates);
        Assert.Equal(["1.3.6.1.4.1.311.20.2.2", "1.3.6.1.5.5.7.3.2"], certificate.ExtendedKeyUsages);
        Assert.Equal(CertificateKeyUsage.DigitalSignature, certificate.KeyUsages);
        Assert.Equal([CertificateTemplate.UpnName], certificate.SubjectAlternativeNames);
    }

    [Theory]
    [InlineData("[dns]")]
    [InlineData("[upn, UPN]")]
    public async Task Import_UnknownOrRepeatedSanKind_RefusedNamingTheField(string kinds)
    {
        var yaml = (await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "samples", "smartcard-logon.yaml")))
            .Replace("subjectAlternativeNames: [upn]", $"subjectAlternativeNames: {kinds}", StringComparison.Ordinal)
            .Replace("2c6f8e4a-1b3d-4f5a-8c7e-9d0b1a2c3e4f", Guid.NewGuid().ToString("D"), StringComparison.Ordinal);
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => server.Services.GetRequiredService<TemplateService>().ImportAsync(yaml, "bad.yaml", Guid.Empty, "test"));
        Assert.Equal(ErrorKind.ValidationFailed, ex.Error.Kind);
        Assert.EndsWith("subjectAlternativeNames", ex.Error.Field, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }
}
