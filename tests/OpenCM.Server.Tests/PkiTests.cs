using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

public sealed class PkiFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Ca:Name"] = "Contoso Test CA",
        ["Ca:PublicUrl"] = "https://cm.contoso.test",
    };
}

public class PkiTests : IClassFixture<PkiFixture>
{
    private const string Crl = "/CertificateManagement/crl/Contoso-Test-CA.crl";
    private readonly PkiFixture _server;

    public PkiTests(PkiFixture server) => _server = server;

    private async Task<string> FetchAsync(TempDirectory dir, string path, string file, string pemLabel)
    {
        var response = await _server.CreateClient().GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();
        await File.WriteAllTextAsync(dir.File(file), PemEncoding.WriteString(pemLabel, body));
        return response.Content.Headers.ContentType!.MediaType!;
    }

    [Fact]
    public async Task CaCertificateAndCrl_PublishedUnauthenticated_OpensslVerifies()
    {
        using var dir = new TempDirectory();
        Assert.Equal("application/pkix-cert", await FetchAsync(dir, "/CertificateManagement/ca/Contoso-Test-CA.crt", "ca.pem", "CERTIFICATE"));
        Assert.Equal("application/pkix-crl", await FetchAsync(dir, Crl, "ca.crl", "X509 CRL"));
        var ca = await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "ca.pem", "-noout", "-subject", "-text");
        Assert.Contains("subject=CN = Contoso Test CA", ca, StringComparison.Ordinal);
        Assert.Contains("NIST CURVE: P-256", ca, StringComparison.Ordinal); // a new CA's default (issue #11.4)
        Assert.Contains("verify OK", (await OpenSsl.RunAsync(dir.Path, "crl", "-in", "ca.crl", "-noout", "-CAfile", "ca.pem")).All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crl_AfterRevocation_ListsSerialWithHigherNumber_UnchangedOtherwise()
    {
        var client = _server.CreateClient();
        var before = await client.GetByteArrayAsync(Crl);
        Assert.Equal(before, await client.GetByteArrayAsync(Crl));

        // Issue a certificate as enrollment does (record the serial, sign, store), then revoke it.
        var ca = _server.Services.GetRequiredService<ICertificateAuthority>();
        var transactions = _server.Services.GetRequiredService<ITransactions>();
        var (issued, profile) = await TestIssuance.IssueAsync(_server.Services);
        var serial = issued.SerialHex;
        var revoked = await transactions.RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, (int)X509RevocationReason.CessationOfOperation, Samples.Now, ct));
        Assert.Equal([serial], revoked);
        await ca.RevokeAsync(new Revocation(revoked, (int)X509RevocationReason.CessationOfOperation, Samples.Now));

        using var dir = new TempDirectory();
        await FetchAsync(dir, "/CertificateManagement/ca/Contoso-Test-CA.crt", "ca.pem", "CERTIFICATE");
        await FetchAsync(dir, Crl, "after.crl", "X509 CRL");
        await File.WriteAllTextAsync(dir.File("before.crl"), PemEncoding.WriteString("X509 CRL", before));
        var text = await OpenSsl.CheckAsync(dir.Path, "crl", "-in", "after.crl", "-noout", "-text");
        Assert.Contains($"Serial Number: {issued.SerialHex}", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Cessation Of Operation", text, StringComparison.Ordinal);
        var number = (string file) => OpenSsl.CheckAsync(dir.Path, "crl", "-in", file, "-noout", "-crlnumber");
        Assert.True(Convert.ToInt32((await number("after.crl")).Split('=')[1].Trim(), 16) > Convert.ToInt32((await number("before.crl")).Split('=')[1].Trim(), 16));

        await File.WriteAllTextAsync(dir.File("leaf.pem"), PemEncoding.WriteString("CERTIFICATE", issued.Der));
        // At the server's time: the leaf is good without the CRL, and revoked with it, for that reason
        // alone (not, say, because the CRL has expired, which also fails the check).
        var at = OpenSsl.At(_server.Clock.GetUtcNow());
        Assert.Contains("leaf.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. at, "-CAfile", "ca.pem", "leaf.pem"]), StringComparison.Ordinal);
        var check = await OpenSsl.RunAsync(dir.Path, ["verify", .. at, "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "after.crl", "leaf.pem"]);
        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("error 23 at 0 depth lookup: certificate revoked", check.All, StringComparison.Ordinal);
        Assert.DoesNotContain("expired", check.All, StringComparison.Ordinal);
        Assert.Empty(await transactions.RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, 1, Samples.Now, ct)));
    }

    [Fact]
    public async Task IssuedCertificates_CarryTheConfiguredDistributionPoint()
    {
        using var key = RSA.Create(2048);
        var issued = _server.Services.GetRequiredService<CertificateAuthorities>().Active.Pipeline.IssueForKey(key, new CertificateTemplate { CommonName = "T" }, new SubjectAttributes("a", Guid.NewGuid(), "S-1-5-21-1-2-3-4"), Samples.Now);
        using var dir = new TempDirectory();
        await File.WriteAllTextAsync(dir.File("leaf.pem"), PemEncoding.WriteString("CERTIFICATE", issued.Der));
        var text = await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "leaf.pem", "-noout", "-ext", "crlDistributionPoints");
        Assert.Contains("URI:https://cm.contoso.test/CertificateManagement/crl/Contoso-Test-CA.crl", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crl_ConditionalGet_304UntilARevocationChangesIt()
    {
        var client = _server.CreateClient();
        var first = await client.GetAsync(Crl);
        var etag = first.Headers.ETag!;
        Assert.NotNull(first.Content.Headers.LastModified);

        var again = new HttpRequestMessage(HttpMethod.Get, Crl);
        again.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(again)).StatusCode);

        // A revocation published through the CA port makes the next fetch a new CRL.
        var ca = _server.Services.GetRequiredService<ICertificateAuthority>();
        var transactions = _server.Services.GetRequiredService<ITransactions>();
        var profile = Guid.NewGuid();
        var serial = CertificateIssuance.NewSerialNumber();
        await transactions.RunAsync(async (uow, ct) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), profile, Guid.NewGuid(), "T"), ct);
            return 0;
        });
        var revoked = await transactions.RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, 1, Samples.Now, ct));
        await ca.RevokeAsync(new Revocation(revoked, 1, Samples.Now));
        var changed = new HttpRequestMessage(HttpMethod.Get, Crl);
        changed.Headers.IfNoneMatch.Add(etag);
        var response = await client.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual(etag, response.Headers.ETag);
    }

    [Fact]
    public async Task CaChain_PublishedUnauthenticated_TheActiveCaUpToItsRoot()
    {
        // Issue #23.3: how `opencm ca root|chain` learns the CA without a token or its slug.
        var client = _server.CreateClient();
        var response = await client.GetAsync("/CertificateManagement/ca/chain.pem");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pem-certificate-chain", response.Content.Headers.ContentType!.MediaType);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(await response.Content.ReadAsStringAsync());
        var active = Assert.Single(chain);
        Assert.Equal(await client.GetByteArrayAsync("/CertificateManagement/ca/Contoso-Test-CA.crt"), active.RawData);
    }

    [Theory]
    [InlineData("/CertificateManagement/crl/Other.crl")]
    [InlineData("/CertificateManagement/ca/Other.crt")]
    public async Task Publication_WrongName_404(string path) =>
        Assert.Equal(HttpStatusCode.NotFound, (await _server.CreateClient().GetAsync(path)).StatusCode);
}
