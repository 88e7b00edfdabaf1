using System.Security.Cryptography.X509Certificates;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// A subordinate CA under an enterprise root (issue #20.1), with openssl as the root:
/// <c>opencm ca request</c>, the root signs, <c>opencm ca install</c>; leaves then chain to the
/// root, the chain is served, the CRL verifies under the issuing CA, and the first CA keeps
/// publishing. Refused installs change nothing. The server is a real process on the wall clock,
/// so "now" is openssl's time too.
/// </summary>
public sealed class SubordinateCaTests : IDisposable
{
    private const string SubCaSubject = "CN=Contoso Issuing CA 1,O=Contoso";
    private readonly TempDirectory _dir = new();

    private string Data => _dir.File("data");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task SubordinateCa_RootSignsItsRequest_LeavesChainToTheRootAndItsCrlVerifies()
    {
        await Cli.RunAsync("init", "--data", Data);
        await MakeRootAsync("root");

        // 1. The request: a pending CA whose PKCS#10 asks for CA:TRUE.
        var requested = await Cli.RunAsync("ca", "request", "--data", Data, "--subject", SubCaSubject, "--out", _dir.File("sub.csr"));
        Assert.True(requested.Exit == 0, requested.Err);
        var csr = await OpenSsl.CheckAsync(_dir.Path, "req", "-in", _dir.File("sub.csr"), "-noout", "-text", "-verify");
        Assert.Contains("CA:TRUE", csr, StringComparison.Ordinal);
        Assert.Contains("pending", (await Cli.RunAsync("ca", "list", "--data", Data)).Out, StringComparison.Ordinal);

        // 2. The root issues it, as the recipe says.
        await SignAsync("root", "sub.csr", "sub.pem", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");

        // Installed beside a running server, which picks it up by itself (Ca:ReloadSeconds).
        await using var server = await ServerProcess.StartAsync("--data", Data, "--Ca:ReloadSeconds=1");
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        var installed = await Cli.RunAsync("ca", "install", "--data", Data, "--cert", _dir.File("sub.pem"), "--chain", _dir.File("root.pem"));
        Assert.True(installed.Exit == 0, installed.Err);
        var list = (await Cli.RunAsync("ca", "list", "--data", Data)).Out;
        Assert.Contains("active", list, StringComparison.Ordinal);
        Assert.Contains("retired", list, StringComparison.Ordinal);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetAsync("/CertificateManagement/ca/Contoso-Issuing-CA-1.crt")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the running server did not pick up the installed CA:\n" + server.Output);
            await Task.Delay(200);
        }

        // 3. A certificate from the server now comes from the subordinate CA and chains to the root.
        await Cli.RunAsync("users", "add", "--data", Data, "--name", "carol");
        var token = (await Cli.RunAsync("token", "--data", Data, "--user", "carol")).Out.Trim();
        var enrolled = await Cli.RunAsync("enroll", "--server", server.Address, "--token", token, "--template", "User Certificate", "--out", _dir.File("carol.pfx"), "--password", "pw pw pw");
        Assert.True(enrolled.Exit == 0, enrolled.Err);
        await OpenSsl.CheckAsync(_dir.Path, "pkcs12", "-in", _dir.File("carol.pfx"), "-passin", "pass:pw pw pw", "-nokeys", "-clcerts", "-out", _dir.File("carol.pem"));
        var leaf = await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", _dir.File("carol.pem"), "-noout", "-issuer", "-ext", "authorityInfoAccess,crlDistributionPoints");
        Assert.Contains("Contoso Issuing CA 1", leaf, StringComparison.Ordinal);
        Assert.Contains("/CertificateManagement/ocsp", leaf, StringComparison.Ordinal);
        Assert.Contains("/CertificateManagement/ca/Contoso-Issuing-CA-1.crt", leaf, StringComparison.Ordinal);
        Assert.Contains("/CertificateManagement/crl/Contoso-Issuing-CA-1.crl", leaf, StringComparison.Ordinal);
        var verified = await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(DateTimeOffset.UtcNow), "-x509_strict", "-CAfile", _dir.File("root.pem"), "-untrusted", _dir.File("sub.pem"), _dir.File("carol.pem")]);
        Assert.Contains(": OK", verified, StringComparison.Ordinal);

        // The PFX carries the whole chain: the leaf, the issuing CA and the root.
        var all = await OpenSsl.CheckAsync(_dir.Path, "pkcs12", "-in", _dir.File("carol.pfx"), "-passin", "pass:pw pw pw", "-nokeys");
        Assert.Equal(3, all.Split("BEGIN CERTIFICATE").Length - 1);

        // 4. The issuing CA's certificate and CRL are served; the CRL verifies under it. The first CA keeps publishing.
        var served = await http.GetByteArrayAsync("/CertificateManagement/ca/Contoso-Issuing-CA-1.crt");
        using (var sub = X509CertificateLoader.LoadCertificateFromFile(_dir.File("sub.pem")))
        {
            Assert.Equal(sub.RawData, served);
        }

        await File.WriteAllBytesAsync(_dir.File("sub.crl"), await http.GetByteArrayAsync("/CertificateManagement/crl/Contoso-Issuing-CA-1.crl"));
        var crl = await OpenSsl.RunAsync(_dir.Path, "crl", "-inform", "DER", "-in", _dir.File("sub.crl"), "-CAfile", _dir.File("sub.pem"), "-noout", "-verify");
        Assert.True(crl.ExitCode == 0 && crl.All.Contains("verify OK", StringComparison.Ordinal), crl.All);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/CertificateManagement/crl/Nobody.crl")).StatusCode);

        // 5. What a client fetches without a token (issue #23.3): the chain is the issuing CA then the root; the root is the enterprise root.
        var chain = await Cli.RunAsync("ca", "chain", "--server", server.Address);
        Assert.True(chain.Exit == 0, chain.Err);
        var fetched = new X509Certificate2Collection();
        fetched.ImportFromPem(chain.Out);
        using var root = X509CertificateLoader.LoadCertificateFromFile(_dir.File("root.pem"));
        using var issuing = X509CertificateLoader.LoadCertificateFromFile(_dir.File("sub.pem"));
        Assert.Equal([issuing.Thumbprint, root.Thumbprint], fetched.Select(c => c.Thumbprint));
        var top = await Cli.RunAsync("ca", "root", "--server", server.Address, "--format", "json");
        Assert.True(top.Exit == 0, top.Err);
        Assert.Contains(root.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256).ToLowerInvariant(), top.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Install_WhatIsNotAnIssuedCaForThePendingKey_RefusedNamingWhyAndNothingChanges()
    {
        await Cli.RunAsync("init", "--data", Data);
        await MakeRootAsync("root");
        await MakeRootAsync("other");
        Assert.Equal(0, (await Cli.RunAsync("ca", "request", "--data", Data, "--subject", SubCaSubject, "--out", _dir.File("sub.csr"))).Exit);

        // Not a CA certificate; issued by a root other than the one given; for another key; garbage files.
        await SignAsync("root", "sub.csr", "leaf.pem", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n");
        await SignAsync("other", "sub.csr", "other.pem", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
        await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", _dir.File("stranger.key"),
            "-subj", "/CN=Stranger", "-out", _dir.File("stranger.csr"));
        await SignAsync("root", "stranger.csr", "stranger.pem", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
        await File.WriteAllTextAsync(_dir.File("garbage.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        await SignAsync("root", "sub.csr", "nocrl.pem", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n");

        foreach (var (cert, chain, expected) in new[]
        {
            ("leaf.pem", "root.pem", "not a CA certificate"),
            ("nocrl.pem", "root.pem", "cRLSign"),
            ("other.pem", "root.pem", "does not chain to the given root"),
            ("stranger.pem", "root.pem", "not for the key of a pending CA"),
            ("garbage.pem", "root.pem", "--cert"),
            ("sub.csr", "root.pem", "--cert"),
            ("other.pem", "garbage.pem", "--chain"),
            ("other.pem", "missing.pem", "--chain"),
        })
        {
            var refused = await Cli.RunAsync("ca", "install", "--data", Data, "--cert", _dir.File(cert), "--chain", _dir.File(chain));
            Assert.True(refused.Exit != 0, $"{cert}: {refused.Out}");
            Assert.Contains(expected, refused.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", refused.Err, StringComparison.Ordinal);
        }

        var list = (await Cli.RunAsync("ca", "list", "--data", Data)).Out;
        Assert.Contains("pending", list, StringComparison.Ordinal);
        Assert.DoesNotContain("retired", list, StringComparison.Ordinal);

        // Hostile subjects and an existing output file are refused before anything is made.
        foreach (var subject in new[] { "not a name", "O=No Common Name", "" })
        {
            var bad = await Cli.RunAsync("ca", "request", "--data", Data, "--subject", subject, "--out", _dir.File($"x{subject.Length}.csr"));
            Assert.True(bad.Exit != 0, subject);
            Assert.Contains("--subject", bad.Err, StringComparison.Ordinal);
        }

        Assert.NotEqual(0, (await Cli.RunAsync("ca", "request", "--data", Data, "--subject", SubCaSubject, "--out", _dir.File("sub.csr"))).Exit);
    }

    [Fact]
    public async Task Serve_CaNameChangedAfterFirstStart_PublicationStaysWhereCertificatesPointIt()
    {
        await Cli.RunAsync("init", "--data", Data);

        // Issue #20.5: the CRL URL inside every certificate already issued must keep answering.
        await using var renamed = await ServerProcess.StartAsync("--data", Data, "--Ca:Name=Contoso Renamed CA");
        using var http = new HttpClient { BaseAddress = new Uri(renamed.Address) };
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/CertificateManagement/crl/Contoso-Renamed-CA.crl")).StatusCode);
    }

    // A self-signed root made by openssl, as an enterprise root would be.
    private async Task MakeRootAsync(string name) =>
        await OpenSsl.CheckAsync(_dir.Path, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
            "-keyout", _dir.File(name + ".key"), "-out", _dir.File(name + ".pem"), "-subj", $"/CN=Contoso {name} Root/O=Contoso", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

    private async Task SignAsync(string root, string csr, string output, string extensions)
    {
        var ext = _dir.File(output + ".ext");
        await File.WriteAllTextAsync(ext, extensions);
        await OpenSsl.CheckAsync(_dir.Path, "x509", "-req", "-in", _dir.File(csr), "-CA", _dir.File(root + ".pem"), "-CAkey", _dir.File(root + ".key"),
            "-set_serial", "0x" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)), "-days", "1825", "-sha384",
            "-extfile", ext, "-out", _dir.File(output));
    }
}
