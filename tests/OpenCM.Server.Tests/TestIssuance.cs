using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>Issues a certificate as enrollment does, without a request: reserve the serial, plan under the active CA, sign, record.</summary>
internal static class TestIssuance
{
    public static async Task<(IssuedCertificate Issued, Guid Profile)> IssueAsync(IServiceProvider services)
    {
        var transactions = services.GetRequiredService<ITransactions>();
        var template = new CertificateTemplate { CommonName = "T", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
        using var key = services.GetRequiredService<IKeyGenerator>().Generate(template);
        var serial = CertificateIssuance.NewSerialNumber();
        var profile = Guid.NewGuid();
        await transactions.RunAsync(async (uow, ct) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), profile, Guid.NewGuid(), "T"), ct);
            return 0;
        });
        var issuance = services.GetRequiredService<CertificateIssuance>();
        var issued = await issuance.SignAsync(issuance.Plan(new CertificateOrder(serial, key.SubjectPublicKeyInfo, template, new SubjectAttributes("alice", Guid.NewGuid(), "S-1-5-21-1-2-3-4"), Samples.Now)));
        Assert.True(await transactions.RunAsync((uow, ct) => uow.Certificates.RecordIssuedAsync(issued, ct)));
        return (issued, profile);
    }
}
