using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

public sealed class RolloverFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Ca:Name"] = "Contoso Rollover CA",
        ["Ca:PublicUrl"] = "https://cm.contoso.test",
    };
}

/// <summary>
/// CA rollover (issue #20.1): a subordinate CA installed while the first is active takes over new
/// certificates; what the first signed keeps its issuer and stays revocable on the first CA's CRL.
/// The enterprise root is played by .NET here (openssl plays it in the CLI's tests).
/// </summary>
public sealed class RolloverTests : IClassFixture<RolloverFixture>
{
    private readonly RolloverFixture _server;

    public RolloverTests(RolloverFixture server) => _server = server;

    [Fact]
    public async Task Rollover_SubordinateInstalled_NewCertificatesFromItOldOnesRevocableOnTheOldCrl()
    {
        var authorities = _server.Services.GetRequiredService<CertificateAuthorities>();
        var first = authorities.Active;
        var (old, oldProfile) = await TestIssuance.IssueAsync(_server.Services);

        // 1. The new CA: its request, signed by an enterprise root, installed, picked up.
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest("CN=Contoso Enterprise Root", rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(Samples.Now.AddYears(-1), Samples.Now.AddYears(10));
        var administration = _server.Services.GetRequiredService<CaAdministration>();
        var requested = await administration.RequestAsync(AuditContext.Bootstrap, "CN=Contoso Issuing CA 2,O=Contoso", CaKeyAlgorithm.EcdsaP256);
        var csr = CertificateRequest.LoadSigningRequestPem(requested.CertificateRequestPem, HashAlgorithmName.SHA384, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        csr.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issuedCa = csr.Create(root, Samples.Now.AddDays(-1), Samples.Now.AddYears(5), [0x42, 0x01]);
        await administration.InstallAsync(AuditContext.Bootstrap, issuedCa, [root]);
        Assert.True(await CaSetup.ReloadAsync(_server.Services.GetRequiredService<CaContext>(), authorities));
        Assert.False(await CaSetup.ReloadAsync(_server.Services.GetRequiredService<CaContext>(), authorities));
        Assert.NotSame(first, authorities.Active);
        Assert.Equal(issuedCa.RawData, authorities.Active.Signer.Certificate.RawData);

        // 2. A new certificate comes from the new CA, and its PKCS#7 carries the chain up to the root.
        var (fresh, freshProfile) = await TestIssuance.IssueAsync(_server.Services);
        using (var leaf = X509CertificateLoader.LoadCertificate(fresh.Der))
        {
            Assert.Equal(issuedCa.Subject, leaf.Issuer);
        }

        var pkcs7 = new SignedCms();
        pkcs7.Decode(_server.Services.GetRequiredService<CertificateIssuance>().Pkcs7(fresh.Der));
        Assert.Equal([fresh.Der, issuedCa.RawData, root.RawData], pkcs7.Certificates.Select(c => c.RawData));

        // 3. Revocations land on the CRL of the CA that signed each certificate; both CRLs are served.
        await RevokeAsync(oldProfile);
        await RevokeAsync(freshProfile);
        var client = _server.CreateClient();
        var oldCrl = await CrlSerialsAsync(client, "/CertificateManagement/crl/Contoso-Rollover-CA.crl", first.Signer.Certificate);
        var newCrl = await CrlSerialsAsync(client, "/CertificateManagement/crl/Contoso-Issuing-CA-2.crl", issuedCa);
        Assert.Contains(old.SerialHex, oldCrl);
        Assert.DoesNotContain(fresh.SerialHex, oldCrl);
        Assert.Contains(fresh.SerialHex, newCrl);
        Assert.DoesNotContain(old.SerialHex, newCrl);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/CertificateManagement/ca/Contoso-Rollover-CA.crt")).StatusCode);

        // 4. OCSP answers for both CAs, each for what it signed; another CA's serial is unknown to it.
        Assert.Contains("Cert Status: revoked", await OcspAsync(client, first.Signer.Certificate, old.SerialHex), StringComparison.Ordinal);
        Assert.Contains("Cert Status: revoked", await OcspAsync(client, issuedCa, fresh.SerialHex), StringComparison.Ordinal);
        Assert.Contains("Cert Status: unknown", await OcspAsync(client, issuedCa, old.SerialHex), StringComparison.Ordinal);
        Assert.Contains("Cert Status: unknown", await OcspAsync(client, first.Signer.Certificate, fresh.SerialHex), StringComparison.Ordinal);

        // 5. The audit chain names both changes.
        var kinds = await _server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().Select(e => e.Event.Kind).ToListAsync();
        Assert.Contains("CaRequested", kinds);
        Assert.Contains("CaInstalled", kinds);
    }

    private async Task RevokeAsync(Guid profile)
    {
        var revoked = await _server.Services.GetRequiredService<ITransactions>().RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, 1, Samples.Now, ct));
        await _server.Services.GetRequiredService<ICertificateAuthority>().RevokeAsync(new Revocation(revoked, 1, Samples.Now));
    }

    // What the server's OCSP responder says of <serial> under <issuer>: openssl writes the request and reads the answer.
    private static async Task<string> OcspAsync(HttpClient client, X509Certificate2 issuer, string serial)
    {
        using var dir = new TempDirectory();
        await File.WriteAllTextAsync(dir.File("ca.pem"), PemEncoding.WriteString("CERTIFICATE", issuer.RawData));
        await OpenSsl.CheckAsync(dir.Path, "ocsp", "-issuer", dir.File("ca.pem"), "-serial", "0x" + serial, "-no_nonce", "-reqout", dir.File("req.der"));
        using var body = new ByteArrayContent(await File.ReadAllBytesAsync(dir.File("req.der")));
        body.Headers.ContentType = new("application/ocsp-request");
        var response = await client.PostAsync("/CertificateManagement/ocsp", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await File.WriteAllBytesAsync(dir.File("resp.der"), await response.Content.ReadAsByteArrayAsync());
        return await OpenSsl.CheckAsync(dir.Path, "ocsp", "-respin", dir.File("resp.der"), "-resp_text", "-noverify");
    }

    // The serials a served CRL lists, after checking it is signed by <issuer>.
    private static async Task<List<string>> CrlSerialsAsync(HttpClient client, string path, X509Certificate2 issuer)
    {
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("c.crl"), await client.GetByteArrayAsync(path));
        await File.WriteAllTextAsync(dir.File("ca.pem"), PemEncoding.WriteString("CERTIFICATE", issuer.RawData));
        var verified = await OpenSsl.RunAsync(dir.Path, "crl", "-inform", "DER", "-in", dir.File("c.crl"), "-CAfile", dir.File("ca.pem"), "-noout", "-verify", "-text");
        Assert.True(verified.ExitCode == 0 && verified.All.Contains("verify OK", StringComparison.Ordinal), verified.All);
        return [.. verified.Output.Split('\n').Where(l => l.Contains("Serial Number:", StringComparison.Ordinal)).Select(l => l.Split(':')[1].Trim().ToUpperInvariant())];
    }
}
