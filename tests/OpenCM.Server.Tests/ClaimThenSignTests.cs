using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The embedded CA with a hook before every signature, to see what is on record when the CA signs and to make it fail.</summary>
internal sealed class InterceptingCertificateAuthority : ICertificateAuthority
{
    private readonly ICertificateAuthority _inner;

    public InterceptingCertificateAuthority(ICertificateAuthority inner) => _inner = inner;

    public IssuerProfile Issuer => _inner.Issuer;

    public Func<CertificatePlan, Task>? BeforeSign { get; set; }

    /// <summary>When set, what the CA signs in place of the plan it was given (a CA that does not sign what was planned).</summary>
    public Func<CertificatePlan, CertificatePlan>? Alter { get; set; }

    public int Signatures;

    public async Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default)
    {
        if (BeforeSign is { } hook)
        {
            await hook(plan);
        }

        Interlocked.Increment(ref Signatures);
        return await _inner.SignAsync(Alter is { } alter ? alter(plan) : plan, ct);
    }

    /// <summary>Revocations left to refuse, as a CA that is down would.</summary>
    public int FailRevocations;

    public int RevocationsHeard;

    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default)
    {
        if (Interlocked.Decrement(ref FailRevocations) >= 0)
        {
            throw new HttpRequestException("the CA at ca.internal:8443 is down");
        }

        Interlocked.Increment(ref RevocationsHeard);
        return _inner.RevokeAsync(revocation, ct);
    }
}

public sealed class InterceptingCaFixture : ServerFixture
{
    internal InterceptingCertificateAuthority Ca => (InterceptingCertificateAuthority)Services.GetRequiredService<ICertificateAuthority>();

    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<ICertificateAuthority>(sp => new InterceptingCertificateAuthority(ActivatorUtilities.CreateInstance<EmbeddedCertificateAuthority>(sp)));
}

/// <summary>
/// Claim, record, then sign (issue #6, after boulder): the CA signs only serials already on
/// record for a claimed execution, so a certificate the CA signed is never unknown, and a lost
/// race or a failure leaves revocable records, not loose certificates.
/// </summary>
public sealed class ClaimThenSignTests : IClassFixture<InterceptingCaFixture>, IDisposable
{
    private readonly InterceptingCaFixture _server;
    private readonly TempDirectory _dir = new();

    public ClaimThenSignTests(InterceptingCaFixture server)
    {
        _server = server;
        _server.Ca.BeforeSign = null;
        _server.Ca.Alter = null;
        _server.Ca.FailRevocations = 0;
    }

    public void Dispose()
    {
        _server.Ca.BeforeSign = null;
        _server.Ca.Alter = null;
        _dir.Dispose();
    }

    private static string Api(Guid id, string rest = "") => $"{ServerFixture.Api}/requests/{id}{rest}";

    private static StringContent CsrBody()
    {
        using var rsa = RSA.Create(2048);
        var csr = Convert.ToBase64String(new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        return Http.Json(JsonSerializer.Serialize(new Dictionary<string, object?> { ["pfxpassword"] = "", ["certificaterequests"] = new[] { csr } }));
    }

    private async Task<(HttpClient Client, Guid Id)> ApprovedRequestAsync()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("signer"));
        return (client, await client.CreateIdAsync(ServerFixture.UserCertificate));
    }

    private async Task<(int Status, DateTimeOffset? RevokedAt, int? Reason)?> RecordAsync(string serial)
    {
        await using var conn = await _server.Services.GetRequiredService<StorageProvider>().OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT status, revoked_at, revocation_reason FROM certificates WHERE serial = $s";
        var p = cmd.CreateParameter();
        p.ParameterName = "$s";
        p.Value = serial;
        cmd.Parameters.Add(p);
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync()
            ? (r.GetInt32(0), r.IsDBNull(1) ? null : new DateTimeOffset(r.GetInt64(1), TimeSpan.Zero), r.IsDBNull(2) ? null : r.GetInt32(2))
            : null;
    }

    private async Task<string?> PlanHashAsync(string serial)
    {
        await using var conn = await _server.Services.GetRequiredService<StorageProvider>().OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT plan_sha256 FROM certificates WHERE serial = $s";
        var p = cmd.CreateParameter();
        p.ParameterName = "$s";
        p.Value = serial;
        cmd.Parameters.Add(p);
        return await cmd.ExecuteScalarAsync() as string;
    }

    private async Task<string> CrlTextAsync()
    {
        var crl = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl");
        await File.WriteAllTextAsync(_dir.File("now.crl"), PemEncoding.WriteString("X509 CRL", crl));
        return await OpenSsl.CheckAsync(_dir.Path, "crl", "-in", "now.crl", "-noout", "-text");
    }

    [Fact]
    public async Task CertificateData_WhenTheCaSigns_SerialIsRecordedAndRequestClaimed()
    {
        var (client, id) = await ApprovedRequestAsync();
        (int, DateTimeOffset?, int?)? seen = null;
        RequestStatus? statusSeen = null;
        (string? Recorded, string Planned)? plan = null;
        _server.Ca.BeforeSign = async order =>
        {
            seen = await RecordAsync(order.SerialHex);
            plan = (await PlanHashAsync(order.SerialHex), order.Sha256Hex());
            statusSeen = (await _server.Services.GetRequiredService<IRequestStore>().FindAsync(id))!.Status;
        };

        var response = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(((int)CertificateStatus.Reserved, (DateTimeOffset?)null, (int?)null), seen);
        Assert.Equal(RequestStatus.Executing, statusSeen);
        Assert.Equal(plan!.Value.Planned, plan.Value.Recorded);
    }

    [Fact]
    public async Task CertificateData_CaFailsWhileSigning_500RequestFailedAndSerialOnTheCrl()
    {
        var (client, id) = await ApprovedRequestAsync();
        string? serial = null;
        _server.Ca.BeforeSign = order =>
        {
            serial = order.SerialHex;
            throw new CryptographicException("HSM slot 3 at /dev/hsm0 refused the key");
        };

        var response = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain("hsm", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal((int)RequestStatus.Failed, (await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal(((int)CertificateStatus.Revoked, (DateTimeOffset?)_server.Clock.GetUtcNow(), (int?)ProfileRules.CessationOfOperation), await RecordAsync(serial!));
        Assert.Contains($"Serial Number: {serial}", await CrlTextAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Revocation_CaDownWhenItCommits_QueuedAndDeliveredOnRetryAndTheCrlListsIt()
    {
        // 1. The CA publishes a CRL (and keeps it until it hears of a revocation).
        var (client, id) = await ApprovedRequestAsync();
        await CrlTextAsync();

        // 2. Signing fails, so the execution fails and its serial is revoked; the CA is down then.
        string? serial = null;
        _server.Ca.BeforeSign = order =>
        {
            serial = order.SerialHex;
            throw new CryptographicException("the HSM refused");
        };
        _server.Ca.FailRevocations = 1;
        var heard = _server.Ca.RevocationsHeard;
        Assert.Equal(HttpStatusCode.InternalServerError, (await client.PostAsync(Api(id, "/certificatedata"), CsrBody())).StatusCode);
        Assert.Equal((int)CertificateStatus.Revoked, (await RecordAsync(serial!))!.Value.Status);
        Assert.Equal(heard, _server.Ca.RevocationsHeard);
        Assert.DoesNotContain($"Serial Number: {serial}", await CrlTextAsync(), StringComparison.OrdinalIgnoreCase);

        // 3. After its backoff the notice is delivered again (by the host's loop or this call), and the CA has it.
        _server.Clock.Advance(CaNoticeDelivery.Backoff(1));
        await _server.Services.GetRequiredService<CaNoticeDelivery>().DeliverDueAsync();
        Assert.True(_server.Ca.RevocationsHeard > heard);
        Assert.Contains($"Serial Number: {serial}", await CrlTextAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Empty(await _server.Services.GetRequiredService<ICaOutbox>().DueAsync(_server.Clock.GetUtcNow().AddDays(1), 10));
    }

    [Fact]
    public async Task CertificateData_RefusedAfterTheClaim_400RequestFailedAndSerialRevoked()
    {
        // Bug (issue #17): a refusal raised after the claim left the request Executing with its
        // serials reserved, and a second call answered 409. Any error after the claim fails it.
        var (client, id) = await ApprovedRequestAsync();
        string? serial = null;
        _server.Ca.BeforeSign = order =>
        {
            serial = order.SerialHex;
            throw new OpenCmException(DomainError.Validation("subject", "The CA refuses this subject."));
        };

        var response = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());

        Assert.Equal((HttpStatusCode.BadRequest, "ValidationFailed"), (response.StatusCode, await response.ErrorCodeAsync()));
        Assert.Equal((int)RequestStatus.Failed, (await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal(((int)CertificateStatus.Revoked, (int?)ProfileRules.CessationOfOperation), ((await RecordAsync(serial!))!.Value.Status, (await RecordAsync(serial!))!.Value.Reason));
    }

    public static TheoryData<string> Alterations() => ["subject", "validity", "extensions", "key", "serial"];

    [Theory]
    [MemberData(nameof(Alterations))]
    public async Task CertificateData_CaSignsOtherThanThePlan_500RequestFailedNothingStored(string part)
    {
        // The CA is checked, not trusted: a certificate that is not its plan is never stored or returned.
        var (client, id) = await ApprovedRequestAsync();
        string? serial = null;
        _server.Ca.BeforeSign = order =>
        {
            serial = order.SerialHex;
            return Task.CompletedTask;
        };
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _server.Ca.Alter = plan => part switch
        {
            "subject" => plan with { Subject = [.. new System.Security.Cryptography.X509Certificates.X500DistinguishedName("CN=mallory").RawData] },
            "validity" => plan with { NotAfter = plan.NotAfter.AddDays(1) },
            "extensions" => plan with { Extensions = plan.Extensions.RemoveAt(0) },
            "key" => plan with { SubjectPublicKeyInfo = [.. other.ExportSubjectPublicKeyInfo()] },
            // Another first byte than the plan's (a random serial starts with 7F one time in 128).
            _ => plan with { SerialHex = (plan.SerialHex.StartsWith("7F", StringComparison.OrdinalIgnoreCase) ? "7E" : "7F") + plan.SerialHex[2..] },
        };

        var response = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal((int)RequestStatus.Failed, (await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal((int)CertificateStatus.Revoked, (await RecordAsync(serial!))!.Value.Status);
        Assert.Equal(0, await CountSignedAsync(serial!));
    }

    private async Task<long> CountSignedAsync(string serial)
    {
        await using var conn = await _server.Services.GetRequiredService<StorageProvider>().OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM certificates WHERE der IS NOT NULL AND serial = $s";
        var p = cmd.CreateParameter();
        p.ParameterName = "$s";
        p.Value = serial;
        cmd.Parameters.Add(p);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task CertificateData_CanceledWhileTheCaSigns_409AndTheSignedCertificateRevoked()
    {
        var (client, id) = await ApprovedRequestAsync();
        string? serial = null;
        _server.Ca.BeforeSign = async order =>
        {
            serial = order.SerialHex;
            Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Canceled")).StatusCode);
        };

        var response = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("Conflict", await response.ErrorCodeAsync());
        Assert.Equal((int)RequestStatus.Canceled, (await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal((int)CertificateStatus.Revoked, (await RecordAsync(serial!))!.Value.Status);
        Assert.Contains($"Serial Number: {serial}", await CrlTextAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task CertificateData_TwoAtOnce_OneWinsAndTheLoserSignsNothing()
    {
        var (client, id) = await ApprovedRequestAsync();
        var before = _server.Ca.Signatures;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Ca.BeforeSign = _ => gate.Task;

        // The first claims and waits inside the CA; the second finds the request claimed.
        var first = client.PostAsync(Api(id, "/certificatedata"), CsrBody());
        while ((await _server.Services.GetRequiredService<IRequestStore>().FindAsync(id))!.Status != RequestStatus.Executing)
        {
            await Task.Delay(10);
        }

        var second = await client.PostAsync(Api(id, "/certificatedata"), CsrBody());
        gate.SetResult();

        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal((HttpStatusCode.Conflict, "InvalidStatusTransition"), (second.StatusCode, await second.ErrorCodeAsync()));
        Assert.Equal(1, _server.Ca.Signatures - before);
    }
}

/// <summary>Issue #7.5: a smart card template never takes a software CSR in place of the card.</summary>
public sealed class SmartcardWithoutCardTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public SmartcardWithoutCardTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task CertificateData_SmartcardTemplateWithoutCard_409NamingSmartcardAndNothingIssued()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("vsc"));
        var id = await client.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, """[{"Request Reason":"VPN"}]""");
        using var rsa = RSA.Create(2048);
        var csr = Convert.ToBase64String(new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var response = await client.PostAsync($"{ServerFixture.Api}/requests/{id}/certificatedata",
            Http.Json(JsonSerializer.Serialize(new Dictionary<string, object?> { ["certificaterequests"] = new[] { csr } })));

        var json = await response.JsonAsync();
        Assert.Equal((HttpStatusCode.Conflict, "Conflict", "smartcard"), (response.StatusCode, json.GetProperty("errorCode").GetString(), json.GetProperty("field").GetString()));
        var request = await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal(((int)RequestStatus.Approved, Guid.Empty.ToString()), (request.GetProperty("Status").GetInt32(), request.GetProperty("NewProfileUuid").GetString()));
        Assert.Empty((await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}/profiles")).JsonAsync()).EnumerateArray());
    }
}
