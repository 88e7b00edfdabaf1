using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Bench.Load;

/// <summary>
/// Issuance through POST /requests/{id}/certificatedata (durable, audited) against the same
/// pipeline in-process without HTTP and storage (CSR check, build, sign, PKCS#7) as the ceiling,
/// in one run, for an RSA-2048 and a P-256 CSR.
/// </summary>
internal static class Issuance
{
    private const string Api = "/CertificateManagement/api/v1.0";

    public static async Task<int> RunAsync(Uri server, string token, int connections, int seconds, int count)
    {
        var cases = new[]
        {
            ("RSA-2048", "5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60", MakeCsr(rsa: true), new CertificateTemplate { CommonName = "OpenCMUser", Subject = "CN={name},OU=Users,O=OpenCM" }),
            ("P-256", "3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d", MakeCsr(rsa: false), new CertificateTemplate { CommonName = "BenchP256", KeyAlgorithm = KeyAlgorithm.EcdsaP256, Subject = "CN={name},OU=Bench,O=OpenCM" }),
        };
        var conns = new RawHttpConnection[connections];
        for (var i = 0; i < conns.Length; i++)
        {
            conns[i] = await RawHttpConnection.OpenAsync(server, token);
        }

        Console.WriteLine($"issuance: {connections} connections, {Environment.ProcessorCount} cores; ceiling = the same pipeline in-process on a P-384 CA (as the server's) with {connections} workers");
        var rows = new List<(string Name, global::Result Http, double Ceiling)>();
        foreach (var (name, template, csr, certificateTemplate) in cases)
        {
            // 1. The ceiling: CSR check, build, sign, PKCS#7, on as many workers as HTTP gets connections.
            var root = CertificateAuthorityFactory.CreateRoot("CN=Bench CA", CaKeyAlgorithm.EcdsaP384, DateTimeOffset.UtcNow);
            using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
            var pipeline = new IssuancePipeline(signer, ["http://localhost/crl/Bench-CA.crl"]);
            var subject = new SubjectAttributes("bench", Guid.NewGuid(), "S-1-5-21-1-2-3-1000");
            var warmEnd = Stopwatch.StartNew();
            long issuedInProcess = 0;
            await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(() =>
            {
                while (warmEnd.Elapsed < TimeSpan.FromSeconds(2))
                {
                    IssueInProcess(pipeline, signer, csr, certificateTemplate, subject);
                }
            })));
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(() =>
            {
                while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
                {
                    IssueInProcess(pipeline, signer, csr, certificateTemplate, subject);
                    Interlocked.Increment(ref issuedInProcess);
                }
            })));
            var ceiling = issuedInProcess / clock.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} in-process ceiling: {ceiling:F0}/s"));

            // 2. Fresh Approved requests (untimed), then one certificatedata each (timed).
            Console.Write($"creating {count} requests for {name}… ");
            var create = conns.Select(c => c.Build("POST", $"{Api}/requests", $$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{template}}","comment":""}""")).ToArray();
            var ids = new string[count];
            await global::Load.ForCountAsync(null, conns, count, async (w, i) =>
            {
                var (status, body) = await conns[w].SendAsync(create[w]);
                ids[i] = status == 201 ? body.Trim('"').Split('/')[^1] : throw new InvalidOperationException($"create answered {status}: {body}");
                return (status, body);
            });
            Console.WriteLine("done");
            var payload = JsonSerializer.Serialize(new Dictionary<string, object> { ["pfxpassword"] = "", ["certificaterequests"] = new[] { csr } });
            var http = await global::Load.ForCountAsync($"POST certificatedata {name} (durable)", conns, count,
                (w, i) => conns[w].SendAsync(conns[w].Build("POST", $"{Api}/requests/{ids[i]}/certificatedata", payload)));
            rows.Add((name, http, ceiling));
        }

        Console.WriteLine();
        Console.WriteLine("| CSR key | in-process ceiling /s | HTTP certificatedata /s | errors | p50 ms | p99 ms | vs ceiling |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, http, ceiling) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {ceiling:F0} | {http.PerSecond:F0} | {http.Errors} | {http.P50:F2} | {http.P99:F2} | {http.PerSecond / ceiling:P0} |"));
        }

        foreach (var c in conns)
        {
            c.Dispose();
        }

        return rows.Any(r => r.Http.Errors > 0) ? 1 : 0;
    }

    // What certificatedata does per certificate, without storage: check the CSR, sign a fresh serial, wrap in PKCS#7.
    private static byte[] IssueInProcess(IssuancePipeline pipeline, ICertificateSigner signer, string csr, CertificateTemplate template, SubjectAttributes subject)
    {
        var key = IssuancePipeline.Check(csr, template, "c");
        var issued = pipeline.Sign(new CertificateOrder(Convert.ToHexString(IssuancePipeline.NewSerialNumber()), key, template, subject, DateTimeOffset.UtcNow));
        return Encodings.Pkcs7(issued.Der, signer);
    }

    private static string MakeCsr(bool rsa)
    {
        // One key serves every request: the CA checks each CSR's signature and key, never that keys differ.
        if (rsa)
        {
            using var key = RSA.Create(2048);
            return Convert.ToBase64String(new CertificateRequest("CN=bench", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        }

        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Convert.ToBase64String(new CertificateRequest("CN=bench", ec, HashAlgorithmName.SHA256).CreateSigningRequest());
    }
}
