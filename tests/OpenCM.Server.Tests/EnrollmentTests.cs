using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The walkthrough's software path over HTTP, with openssl checking what the CA emits.</summary>
public sealed class EnrollmentTests : IClassFixture<ServerFixture>, IDisposable
{
    private static readonly Guid ArchivedEncryption = Guid.Parse("2c7e9a51-64d8-4b3f-9a0e-5f1d2b3c4a75");
    private readonly ServerFixture _server;
    private readonly TempDirectory _dir = new();

    public EnrollmentTests(ServerFixture server) => _server = server;

    public void Dispose() => _dir.Dispose();

    private static string Api(Guid id, string rest = "") => $"{ServerFixture.Api}/requests/{id}{rest}";

    private async Task<string> OpenSslCsrAsync(string spec = "rsa:2048")
    {
        var name = Guid.NewGuid().ToString("N");
        await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", spec, "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.csr", "-outform", "DER", "-subj", "/CN=whatever");
        // As the reference sends it: base64 with \r\n line breaks.
        var b64 = Convert.ToBase64String(await File.ReadAllBytesAsync(_dir.File($"{name}.csr")));
        return string.Join("\r\n", b64.Chunk(64).Select(c => new string(c))) + "\r\n";
    }

    private static StringContent CertificateData(string? pfxPassword, params string[] csrs) =>
        Http.Json(JsonSerializer.Serialize(new Dictionary<string, object?> { ["pfxpassword"] = pfxPassword, ["certificaterequests"] = csrs }));

    private async Task<string> CaPemAsync()
    {
        var der = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt");
        await File.WriteAllTextAsync(_dir.File("ca.pem"), PemEncoding.WriteString("CERTIFICATE", der));
        return "ca.pem";
    }

    private async Task<(HttpClient Client, Principal User, Guid Id, JsonElement Certificate)> EnrollAsync()
    {
        var user = await _server.UserAsync("alice");
        var client = await _server.ClientAsync(user);
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Api(id, "/certificaterequestgenerationoptions"))).StatusCode);
        var response = await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()));
        var json = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        return (client, user, id, Assert.Single(json.EnumerateArray()));
    }

    [Fact]
    public async Task Walkthrough_SoftwareEnrollment_Pkcs7VerifiesAndCompletedActivatesProfile()
    {
        var (client, user, id, certificate) = await EnrollAsync();

        // The reference's Certificate object, names and order as it writes them.
        Assert.Equal(["TemplateCommonName", "CertificateId", "Flags", "UseLocalMachineStore", "Error", "Pkcs7", "Pfx", "IsExternal", "isServerGenerated", "isPfx", "isPkcs7", "isKeyHistory"],
            certificate.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("OpenCMUser", true, false), (certificate.GetProperty("TemplateCommonName").GetString(), certificate.GetProperty("isPkcs7").GetBoolean(), certificate.GetProperty("isPfx").GetBoolean()));
        Assert.EndsWith("\r\n", certificate.GetProperty("Pkcs7").GetString(), StringComparison.Ordinal);

        // openssl: the PKCS#7 holds the leaf and the CA; the leaf verifies against the published CA.
        await File.WriteAllBytesAsync(_dir.File("out.p7b"), Convert.FromBase64String(certificate.GetProperty("Pkcs7").GetString()!));
        await OpenSsl.CheckAsync(_dir.Path, "pkcs7", "-inform", "DER", "-in", "out.p7b", "-print_certs", "-out", "chain.pem");
        var chain = await File.ReadAllTextAsync(_dir.File("chain.pem"));
        Assert.Contains($"CN = {user.Name}", chain, StringComparison.Ordinal);
        Assert.Contains("CN = OpenCM Root CA", chain, StringComparison.Ordinal);
        var leafPem = chain[..(chain.IndexOf("-----END CERTIFICATE-----", StringComparison.Ordinal) + 25)];
        leafPem = leafPem[leafPem.IndexOf("-----BEGIN", StringComparison.Ordinal)..];
        await File.WriteAllTextAsync(_dir.File("leaf.pem"), leafPem);
        Assert.Contains("leaf.pem: OK", await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", await CaPemAsync(), "leaf.pem"]), StringComparison.Ordinal);

        // The request executes with its new profile (New), then Completed makes it Active.
        var executing = await (await client.GetAsync(Api(id))).JsonAsync();
        Assert.Equal(18, executing.GetProperty("Status").GetInt32());
        var profileId = Guid.Parse(executing.GetProperty("NewProfileUuid").GetString()!);
        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        Assert.Equal(ProfileStatus.New, (await profiles.FindAsync(profileId))!.Status);
        Assert.Equal(CertificateStatus.Issued, Assert.Single(await profiles.CertificatesOfProfileAsync(profileId)).Status);

        var completed = await client.PutStatusAsync(id, "Completed");
        Assert.Equal(8, (await completed.JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal((ProfileStatus.Active, user.Uuid), ((await profiles.FindAsync(profileId))!.Status, (await profiles.FindAsync(profileId))!.UserUuid));
        Assert.Equal(CertificateStatus.Current, Assert.Single(await profiles.CertificatesOfProfileAsync(profileId)).Status);
        Assert.True((await AuditChain.VerifyAsync(_server.Services.GetRequiredService<IAuditLog>(), _server.Services.GetRequiredService<AuditChainKey>())).IsIntact);
    }

    [Theory]
    [InlineData("Canceled")]
    [InlineData("Abandoned")]
    public async Task CancelDuringExecution_RevokesWhatItIssued_SerialOnTheCrl(string status)
    {
        var (client, _, id, _) = await EnrollAsync();
        var profileId = Guid.Parse((await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, status)).StatusCode);

        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        Assert.Equal(ProfileStatus.Retired, (await profiles.FindAsync(profileId))!.Status);
        var revoked = Assert.Single(await profiles.CertificatesOfProfileAsync(profileId));
        Assert.Equal(CertificateStatus.Revoked, revoked.Status);
        var serial = revoked.SerialHex;

        var crl = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl");
        await File.WriteAllTextAsync(_dir.File("ca.crl"), PemEncoding.WriteString("X509 CRL", crl));
        var text = await OpenSsl.CheckAsync(_dir.Path, "crl", "-in", "ca.crl", "-noout", "-text");
        Assert.Contains($"Serial Number: {serial}", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Cessation Of Operation", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArchivedEncryption_ServerKey_PfxOpensWithPasswordAndKeyIsArchivedSealed()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ArchivedEncryption);
        var response = await client.PostAsync(Api(id, "/certificatedata"), CertificateData("correct horse"));
        var certificate = Assert.Single((await response.JsonAsync()).EnumerateArray());
        Assert.Equal((true, true, false), (certificate.GetProperty("isPfx").GetBoolean(), certificate.GetProperty("isServerGenerated").GetBoolean(), certificate.GetProperty("isPkcs7").GetBoolean()));

        var pfx = Convert.FromBase64String(certificate.GetProperty("Pfx").GetString()!);
        await File.WriteAllBytesAsync(_dir.File("enc.pfx"), pfx);
        var opened = await OpenSsl.RunAsync(_dir.Path, "pkcs12", "-in", "enc.pfx", "-passin", "pass:correct horse", "-nodes");
        Assert.True(opened.ExitCode == 0, opened.All);
        Assert.Contains("BEGIN PRIVATE KEY", opened.Output, StringComparison.Ordinal);
        Assert.NotEqual(0, (await OpenSsl.RunAsync(_dir.Path, "pkcs12", "-in", "enc.pfx", "-passin", "pass:wrong", "-nodes")).ExitCode);

        // The archive holds the same key, sealed: not readable from the database alone.
        using var fromPfx = X509CertificateLoader.LoadPkcs12(pfx, "correct horse", X509KeyStorageFlags.Exportable);
        var sealedKey = await _server.Services.GetRequiredService<IProfileStore>().ArchivedKeyAsync(fromPfx.SerialNumber);
        Assert.NotNull(sealedKey);
        Assert.DoesNotContain("PRIVATE", System.Text.Encoding.Latin1.GetString(Convert.FromBase64String(sealedKey)), StringComparison.Ordinal);
        var pkcs8 = _server.Services.GetRequiredService<IKeySealer>().Open("archived-key:" + fromPfx.SerialNumber, sealedKey);
        using var archived = RSA.Create();
        archived.ImportPkcs8PrivateKey(pkcs8, out _);
        Assert.Equal(fromPfx.GetRSAPublicKey()!.ExportSubjectPublicKeyInfo(), archived.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public async Task Profiles_AfterCompletion_ListedWithOperationsAndCertificates()
    {
        // An archived-key enrollment, completed, and a second one cancelled.
        var user = await _server.UserAsync("alice");
        var client = await _server.ClientAsync(user);
        var id = await client.CreateIdAsync(ArchivedEncryption);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("pw"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);
        var dropped = await client.CreateIdAsync(ArchivedEncryption);
        await client.PostAsync(Api(dropped, "/certificatedata"), CertificateData("pw"));
        await client.PutStatusAsync(dropped, "Abandoned");

        var list = await (await client.GetAsync($"{ServerFixture.Api}/profiles?status=Active")).JsonAsync();
        var profile = Assert.Single(list.EnumerateArray());
        Assert.Equal(["Uuid", "Status", "Flags", "ParentProfileUuid", "PrimaryProfileUuid", "AssignedUserUuid", "ProfileTemplateUuid", "ProfileTemplateVersion", "Comment", "ProfileOperations"],
            profile.EnumerateObject().Select(p => p.Name));
        Assert.Equal((2, user.Uuid.ToString("D"), ArchivedEncryption.ToString("D")),
            (profile.GetProperty("Status").GetInt32(), profile.GetProperty("AssignedUserUuid").GetString(), profile.GetProperty("ProfileTemplateUuid").GetString()));
        Assert.Equal(["recover", "retire"], profile.GetProperty("ProfileOperations").EnumerateArray().Select(o => o.GetString()));
        Assert.Equal(2, (await (await client.GetAsync($"{ServerFixture.Api}/profiles")).JsonAsync()).GetArrayLength());
        var profileId = profile.GetProperty("Uuid").GetString();

        // A manager may revoke too; a stranger does not see the profile at all.
        var admin = await _server.AdminAsync();
        Assert.Equal(["recover", "recoveronbehalf", "revoke", "retire"], (await (await admin.GetAsync($"{ServerFixture.Api}/profiles/{profileId}/operations")).JsonAsync()).EnumerateArray().Select(o => o.GetString()));
        var stranger = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"{ServerFixture.Api}/profiles/{profileId}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"{ServerFixture.Api}/profiles?status=Sleeping")).StatusCode);

        var byRequest = await (await client.GetAsync(Api(id, "/profiles"))).JsonAsync();
        Assert.Equal(profileId, Assert.Single(byRequest.EnumerateArray()).GetProperty("Uuid").GetString());

        var certificate = Assert.Single((await (await client.GetAsync($"{ServerFixture.Api}/profiles/{profileId}/certificates")).JsonAsync()).EnumerateArray());
        Assert.Equal(["IsKeyHistory", "ArchivedOnCa", "CertificateType", "TemplateCommonName", "SerialNumber", "Thumbprint"], certificate.EnumerateObject().Select(p => p.Name));
        Assert.True(certificate.GetProperty("ArchivedOnCa").GetBoolean());

        // GET /certificates: the current one only; the abandoned execution's certificate is revoked and left out.
        var mine = await (await client.GetAsync($"{ServerFixture.Api}/certificates")).JsonAsync();
        var current = Assert.Single(mine.EnumerateArray());
        Assert.Equal(["IsKeyHistory", "ArchivedOnCa", "CertificateType", "TemplateCommonName", "SerialNumber", "Thumbprint", "NotAfter", "NotBefore", "Issuer", "RequesterName", "Status"],
            current.EnumerateObject().Select(p => p.Name));
        Assert.Equal((certificate.GetProperty("SerialNumber").GetString(), "CN=OpenCM Root CA", user.Name, 0),
            (current.GetProperty("SerialNumber").GetString(), current.GetProperty("Issuer").GetString(), current.GetProperty("RequesterName").GetString(), current.GetProperty("Status").GetInt32()));
    }

    private async Task<(HttpClient Client, Principal User, Guid Profile, string Serial)> ActiveProfileAsync()
    {
        var (client, user, id, _) = await EnrollAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);
        var profile = Guid.Parse((await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        var serial = Assert.Single(await _server.Services.GetRequiredService<IProfileStore>().CertificatesOfProfileAsync(profile)).SerialHex;
        return (client, user, profile, serial);
    }

    private static StringContent OnProfile(string type, Guid profile) =>
        Http.Json($$"""{"type":"{{type}}","profile":"{{profile}}","datacollection":[],"comment":""}""");

    private async Task<string> CrlTextAsync()
    {
        var crl = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl");
        var name = Guid.NewGuid().ToString("N") + ".crl";
        await File.WriteAllTextAsync(_dir.File(name), PemEncoding.WriteString("X509 CRL", crl));
        return await OpenSsl.CheckAsync(_dir.Path, "crl", "-in", name, "-noout", "-text");
    }

    [Fact]
    public async Task CredentialRequest_SomeoneElsesProfile_AnsweredExactlyAsAnUnknownOne()
    {
        // Issue #7.6: Alice's active profile, Alice's retired profile, and no profile at all look the same to Eve.
        var (alice, _, active, _) = await ActiveProfileAsync();
        var (_, _, retired, _) = await ActiveProfileAsync();
        var (owner, _, toRetire, _) = await ActiveProfileAsync();
        Assert.Equal(HttpStatusCode.Created, (await owner.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Retire", toRetire))).StatusCode);
        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));

        var answers = new List<(HttpStatusCode, string?, string?, string?)>();
        foreach (var profile in new[] { active, retired, toRetire, Guid.NewGuid() })
        {
            var response = await eve.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Renew", profile));
            var json = await response.JsonAsync();
            answers.Add((response.StatusCode, json.GetProperty("errorCode").GetString(), json.GetProperty("field").GetString(),
                json.GetProperty("detail").GetString()!.Replace(profile.ToString("D"), "{id}", StringComparison.Ordinal)));
        }

        Assert.Single(answers.Distinct());
        Assert.Equal((HttpStatusCode.BadRequest, "ValidationFailed", "profile"), (answers[0].Item1, answers[0].Item2, answers[0].Item3));

        // The owner still gets the real answers.
        Assert.Equal(HttpStatusCode.Created, (await alice.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Renew", active))).StatusCode);
    }

    [Fact]
    public async Task RequestProfiles_Approver_SeesNoProfileThatProfilesRouteHides()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"lab"}]""");
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        await approver.VoteAsync(id, "Approve");
        await (await _server.ClientAsync(await _server.UserAsync("appr2", "CM Approvers"))).VoteAsync(id, "Approve");
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync("ec:" + await P256ParamsAsync())))).StatusCode);
        var profile = (await (await alice.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString();

        Assert.Equal(HttpStatusCode.NotFound, (await approver.GetAsync($"{ServerFixture.Api}/profiles/{profile}")).StatusCode);
        Assert.Empty((await (await approver.GetAsync(Api(id, "/profiles"))).JsonAsync()).EnumerateArray());
        Assert.Single((await (await alice.GetAsync(Api(id, "/profiles"))).JsonAsync()).EnumerateArray());
    }

    [Theory]
    [InlineData("Revoke", ProfileStatus.Disabled, "Unspecified")]
    [InlineData("Retire", ProfileStatus.Retired, "Cessation Of Operation")]
    public async Task ServerExecutedTypes_CompleteAtOnce_ProfileChangesAndCertificateOnCrl(string type, ProfileStatus expected, string reason)
    {
        var (client, _, profile, serial) = await ActiveProfileAsync();

        // Revoke is for managers only in the sample; the owner is refused, the manager succeeds.
        var actor = type == "Revoke" ? await _server.AdminAsync() : client;
        if (type == "Revoke")
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile))).StatusCode);
        }

        var created = await actor.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);

        var request = await (await actor.GetAsync(Api(id))).JsonAsync();
        Assert.Equal((8, profile.ToString("D")), (request.GetProperty("Status").GetInt32(), request.GetProperty("OldProfileUuid").GetString()));
        Assert.Equal(expected, (await _server.Services.GetRequiredService<IProfileStore>().FindAsync(profile))!.Status);
        var crl = await CrlTextAsync();
        Assert.Contains($"Serial Number: {serial}", crl, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(reason, crl[crl.IndexOf(serial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);

        // The profile has moved on: the same request again is a conflict naming the profile.
        var again = await actor.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("profile", (await again.JsonAsync()).GetProperty("field").GetString());
        Assert.Equal(2, (await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(id)).Count(e => e.Event.Kind == "StatusChanged"));
    }

    [Fact]
    public async Task RevokeOnHold_SuspendsThenReinstateReleasesTheHold()
    {
        var (client, _, profile, serial) = await ActiveProfileAsync();
        var admin = await _server.AdminAsync();
        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        StringContent Revoke(string reason) => Http.Json($$"""{"type":"Revoke","profile":"{{profile}}","datacollection":[{"Revocation Reason":"{{reason}}"}],"comment":""}""");

        var bad = await admin.PostAsync($"{ServerFixture.Api}/requests", Revoke("because"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("Revocation Reason", (await bad.JsonAsync()).GetProperty("field").GetString());

        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync($"{ServerFixture.Api}/requests", Revoke("certificateHold"))).StatusCode);
        Assert.Equal(ProfileStatus.Suspended, (await profiles.FindAsync(profile))!.Status);
        var held = await CrlTextAsync();
        Assert.Contains("Certificate Hold", held[held.IndexOf(serial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);
        Assert.Empty((await (await client.GetAsync($"{ServerFixture.Api}/certificates")).JsonAsync()).EnumerateArray());
        Assert.Equal(["reinstate", "retire"], (await (await admin.GetAsync($"{ServerFixture.Api}/profiles/{profile}/operations")).JsonAsync()).EnumerateArray().Select(o => o.GetString()));

        var reinstate = await admin.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Reinstate", profile));
        Assert.Equal(HttpStatusCode.Created, reinstate.StatusCode);
        Assert.Equal(ProfileStatus.Active, (await profiles.FindAsync(profile))!.Status);
        Assert.DoesNotContain(serial, await CrlTextAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(serial, Assert.Single((await (await client.GetAsync($"{ServerFixture.Api}/certificates")).JsonAsync()).EnumerateArray()).GetProperty("SerialNumber").GetString());
    }

    [Fact]
    public async Task Renew_NewKeysNewProfile_OldRetiredAndSupersededOnCompletion()
    {
        var (client, user, oldProfile, oldSerial) = await ActiveProfileAsync();
        var created = await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Renew", oldProfile));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()))).StatusCode);

        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        var renewed = Guid.Parse((await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        Assert.Equal(ProfileStatus.Active, (await profiles.FindAsync(oldProfile))!.Status);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);

        var newProfile = (await profiles.FindAsync(renewed))!;
        Assert.Equal((ProfileStatus.Active, oldProfile, user.Uuid), (newProfile.Status, newProfile.ParentUuid, newProfile.UserUuid));
        Assert.Equal(ProfileStatus.Retired, (await profiles.FindAsync(oldProfile))!.Status);
        var crl = await CrlTextAsync();
        Assert.Contains("Superseded", crl[crl.IndexOf(oldSerial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);
        var parent = await (await client.GetAsync($"{ServerFixture.Api}/profiles/{renewed}")).JsonAsync();
        Assert.Equal(oldProfile.ToString("D"), parent.GetProperty("ParentProfileUuid").GetString());
    }

    [Theory]
    [InlineData("Recover")]
    [InlineData("Unblock")]
    public async Task CredentialType_TemplateWithoutThatPolicy_RefusedClearly(string type)
    {
        // The User Certificate sample has no Recover policy; Unblock is a smart card type.
        var (client, _, profile, _) = await ActiveProfileAsync();
        var response = await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile));
        var json = await response.JsonAsync();
        Assert.Equal(type == "Recover" ? (HttpStatusCode.Forbidden, "PolicyDisabled") : (HttpStatusCode.BadRequest, "ValidationFailed"),
            (response.StatusCode, json.GetProperty("errorCode").GetString()));
    }

    [Fact]
    public async Task Duplicate_SecondProfileWithItsOwnKeys_OriginalStaysActive()
    {
        var (client, _, original, originalSerial) = await ActiveProfileAsync();
        Assert.Equal(["renew", "duplicate", "retire"], (await (await client.GetAsync($"{ServerFixture.Api}/profiles/{original}/operations")).JsonAsync()).EnumerateArray().Select(o => o.GetString()));
        var created = await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Duplicate", original));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);

        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        var copy = Guid.Parse((await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        Assert.Equal((ProfileStatus.Active, original), ((await profiles.FindAsync(copy))!.Status, (await profiles.FindAsync(copy))!.ParentUuid));
        Assert.Equal(ProfileStatus.Active, (await profiles.FindAsync(original))!.Status);
        var serials = (await (await client.GetAsync($"{ServerFixture.Api}/certificates")).JsonAsync()).EnumerateArray().Select(c => c.GetProperty("SerialNumber").GetString()).ToList();
        Assert.Equal(2, serials.Count);
        Assert.Contains(originalSerial, serials);
    }

    [Fact]
    public async Task OnlineUpdate_OnlyAfterTheTemplateChanges_ThenReplacesTheProfile()
    {
        var (client, _, old, oldSerial) = await ActiveProfileAsync();
        var current = await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile("OnlineUpdate", old));
        Assert.Equal(HttpStatusCode.Conflict, current.StatusCode);
        Assert.Equal("profile", (await current.JsonAsync()).GetProperty("field").GetString());

        // A new version of the template (the sample, imported again) makes the update available.
        var assembly = typeof(Composition.Bootstrapper).Assembly;
        await using (var stream = assembly.GetManifestResourceStream("OpenCM.Samples.Templates.user-certificate.yaml")!)
        using (var reader = new StreamReader(stream))
        {
            await _server.Services.GetRequiredService<TemplateService>().ImportAsync(await reader.ReadToEndAsync(), "user-certificate.yaml", Guid.Empty, "test");
        }

        Assert.Contains("onlineupdate", (await (await client.GetAsync($"{ServerFixture.Api}/profiles/{old}/operations")).JsonAsync()).EnumerateArray().Select(o => o.GetString()));
        var created = await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile("OnlineUpdate", old));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);

        var profiles = _server.Services.GetRequiredService<IProfileStore>();
        var updated = (await profiles.FindAsync(Guid.Parse((await (await client.GetAsync(Api(id))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!)))!;
        Assert.True(updated.TemplateVersion > (await profiles.FindAsync(old))!.TemplateVersion);
        Assert.Equal(ProfileStatus.Retired, (await profiles.FindAsync(old))!.Status);
        var crl = await CrlTextAsync();
        Assert.Contains("Superseded", crl[crl.IndexOf(oldSerial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Recover")]
    [InlineData("RecoverOnBehalf")]
    public async Task Recovery_ArchivedKey_ReturnedAsPfxUnderTheNewPassword(string type)
    {
        // An archived-key profile, completed.
        var owner = await _server.UserAsync("alice");
        var client = await _server.ClientAsync(owner);
        var enroll = await client.CreateIdAsync(ArchivedEncryption);
        var original = Assert.Single((await (await client.PostAsync(Api(enroll, "/certificatedata"), CertificateData("first"))).JsonAsync()).EnumerateArray());
        await client.PutStatusAsync(enroll, "Completed");
        var profile = Guid.Parse((await (await client.GetAsync(Api(enroll))).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        using var issued = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(original.GetProperty("Pfx").GetString()!), "first");

        // Recover is the owner's; RecoverOnBehalf an initiator's (the manager), never the owner's.
        var actor = type == "Recover" ? client : await _server.AdminAsync();
        if (type == "RecoverOnBehalf")
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile))).StatusCode);
        }

        var created = await actor.PostAsync($"{ServerFixture.Api}/requests", OnProfile(type, profile));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);
        if (type == "RecoverOnBehalf")
        {
            // The owner sees the request made on their behalf but may not execute it (issue #7.4).
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("mine"))).StatusCode);
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await actor.PostAsync(Api(id, "/certificatedata"), CertificateData(""))).StatusCode);
        var recovered = Assert.Single((await (await actor.PostAsync(Api(id, "/certificatedata"), CertificateData("second"))).JsonAsync()).EnumerateArray());
        Assert.Equal((true, true), (recovered.GetProperty("isPfx").GetBoolean(), recovered.GetProperty("isKeyHistory").GetBoolean()));

        // openssl opens it with the new password only; it is the archived certificate with its key.
        await File.WriteAllBytesAsync(_dir.File("recovered.pfx"), Convert.FromBase64String(recovered.GetProperty("Pfx").GetString()!));
        Assert.NotEqual(0, (await OpenSsl.RunAsync(_dir.Path, "pkcs12", "-in", "recovered.pfx", "-passin", "pass:first", "-nodes")).ExitCode);
        var opened = await OpenSsl.RunAsync(_dir.Path, "pkcs12", "-in", "recovered.pfx", "-passin", "pass:second", "-nodes");
        Assert.True(opened.ExitCode == 0, opened.All);
        using var back = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(recovered.GetProperty("Pfx").GetString()!), "second", X509KeyStorageFlags.Exportable);
        Assert.Equal(issued.SerialNumber, back.SerialNumber);
        using var key = back.GetRSAPrivateKey()!;
        Assert.Equal(issued.GetRSAPublicKey()!.ExportSubjectPublicKeyInfo(), key.ExportSubjectPublicKeyInfo());

        // The profile is untouched; the recovery is in the audit log.
        Assert.Equal(HttpStatusCode.OK, (await actor.PutStatusAsync(id, "Completed")).StatusCode);
        Assert.Equal(ProfileStatus.Active, (await _server.Services.GetRequiredService<IProfileStore>().FindAsync(profile))!.Status);
        Assert.Contains((await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(id)), e => e.Event.Detail.Contains(issued.SerialNumber, StringComparison.OrdinalIgnoreCase));
    }

    // Issue #20.6: a subject naming {email} carries the user's address; a user without one is a
    // 400 naming the subject and what is missing, and the request stays as it was.
    [Fact]
    public async Task CertificateData_SubjectNamesEmail_TheUsersAddressOrA400NamingIt()
    {
        var template = Guid.NewGuid();
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{template:D}}
            name: Mail Subject {{template:N}}
            policies:
              Enroll:
                enabled: true
                selfServiceEnabled: true
                approvalsNeeded: 0
            certificates:
              - commonName: MailSubject
                subject: "CN={name},E={email}"
                keyAlgorithm: RSA
                keySize: 2048
                keyUsages: [DigitalSignature]
                extendedKeyUsages: ["1.3.6.1.5.5.7.3.2"]
            """, "mail-subject.yaml", Guid.Empty, "test");

        var plain = await _server.ClientAsync(await _server.Services.GetRequiredService<DirectoryAdministration>().AddUserAsync(
            new AuditContext(Guid.Empty, "test"), $"nomail-{Guid.NewGuid():N}"[..20], []));
        var refusedId = await plain.CreateIdAsync(template);
        var before = (await (await plain.GetAsync(Api(refusedId))).JsonAsync()).GetProperty("Status").GetInt32();
        var refused = await plain.PostAsync(Api(refusedId, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()));
        var problem = await refused.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("subject", problem.GetProperty("field").GetString());
        Assert.Contains("no e-mail address", problem.ToString(), StringComparison.Ordinal);
        Assert.Equal(before, (await (await plain.GetAsync(Api(refusedId))).JsonAsync()).GetProperty("Status").GetInt32());

        var user = await _server.Services.GetRequiredService<DirectoryAdministration>().AddUserAsync(
            new AuditContext(Guid.Empty, "test"), $"mail-{Guid.NewGuid():N}"[..20], [], "mail.user@contoso.com", null);
        var client = await _server.ClientAsync(user);
        var id = await client.CreateIdAsync(template);
        var response = await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()));
        var json = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        await File.WriteAllBytesAsync(_dir.File("mail.p7b"), Convert.FromBase64String(Assert.Single(json.EnumerateArray()).GetProperty("Pkcs7").GetString()!));
        await OpenSsl.CheckAsync(_dir.Path, "pkcs7", "-inform", "DER", "-in", "mail.p7b", "-print_certs", "-out", "mail-chain.pem");
        Assert.Contains("emailAddress = mail.user@contoso.com", await File.ReadAllTextAsync(_dir.File("mail-chain.pem")), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, HttpStatusCode, string> Refusals() => new()
    {
        { "two-csrs", "certificaterequests", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "no-csr", "certificaterequests", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "p256-csr", "certificaterequests[0]", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "garbage", "certificaterequests[0]", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "archived-no-password", "pfxpassword", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "archived-nul-password", "pfxpassword", HttpStatusCode.BadRequest, "ValidationFailed" },
        { "twice", "", HttpStatusCode.Conflict, "InvalidStatusTransition" },
        { "pending", "", HttpStatusCode.Conflict, "InvalidStatusTransition" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task CertificateData_Refused_ChangesNothing(string scenario, string field, HttpStatusCode status, string code)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var template = scenario switch
        {
            "archived-no-password" or "archived-nul-password" => ArchivedEncryption,
            "pending" => ServerFixture.ApprovedUserCertificate,
            _ => ServerFixture.UserCertificate,
        };
        var id = await client.CreateIdAsync(template, scenario == "pending" ? """[{"Request Reason":"x"}]""" : "\"[]\"");
        var csr = await OpenSslCsrAsync();
        if (scenario == "twice")
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(Api(id, "/certificatedata"), CertificateData("", csr))).StatusCode);
        }

        HttpContent body = scenario switch
        {
            "two-csrs" => CertificateData("", csr, csr),
            "no-csr" or "archived-no-password" => CertificateData(""),
            "archived-nul-password" => CertificateData("pass\u0000word"),
            "p256-csr" => CertificateData("", await OpenSslCsrAsync("ec:" + await P256ParamsAsync())),
            "garbage" => CertificateData("", "bm90IGEgQ1NS"),
            _ => CertificateData("", csr),
        };
        var before = await (await client.GetAsync(Api(id))).JsonAsync();
        var response = await client.PostAsync(Api(id, "/certificatedata"), body);
        var json = await response.JsonAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, json.GetProperty("errorCode").GetString());
        if (field.Length > 0)
        {
            Assert.Equal(field, json.GetProperty("field").GetString());
        }

        var after = await (await client.GetAsync(Api(id))).JsonAsync();
        Assert.Equal(before.GetProperty("Status").GetInt32(), after.GetProperty("Status").GetInt32());
        Assert.Equal(before.GetProperty("NewProfileUuid").GetString(), after.GetProperty("NewProfileUuid").GetString());
    }

    [Fact]
    public async Task CertificateData_ApproverWithoutExecute_403()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        var response = await approver.PostAsync(Api(id, "/certificatedata"), CertificateData("", await OpenSslCsrAsync()));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    private async Task<string> P256ParamsAsync()
    {
        await OpenSsl.CheckAsync(_dir.Path, "ecparam", "-name", "prime256v1", "-out", "p256.params");
        return "p256.params";
    }
}
