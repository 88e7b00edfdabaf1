using OpenCM.Application;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>ACME's nonces, accounts, orders and authorizations (issue #24.4): single-use nonces, unique keys, compare-and-set on every update.</summary>
public abstract partial class StorageContract
{
    private SqlAcmeStore Acme => new(Db);

    private static AcmeAccount SampleAccount(string id, string thumbprint) =>
        new(id, Guid.NewGuid(), Guid.NewGuid(), thumbprint, "{\"kty\":\"EC\"}", ["mailto:a@b.test"], "kid-" + id, AcmeStatus.Valid, Samples.Now);

    private static (AcmeOrder Order, AcmeAuthorization[] Authorizations) SampleOrder(string accountId, string id)
    {
        AcmeIdentifier[] identifiers = [new("dns", "a.test"), new("ip", "127.0.0.1")];
        var authorizations = identifiers.Select((i, n) => new AcmeAuthorization($"{id}-z{n}", accountId, id, i, AcmeStatus.Pending, Samples.Now.AddDays(7),
            [new AcmeChallengeState("http-01", "token" + n, AcmeStatus.Pending)])).ToArray();
        return (new AcmeOrder(id, accountId, Guid.NewGuid(), AcmeStatus.Pending, Samples.Now.AddDays(7), identifiers, [.. authorizations.Select(a => a.Id)], Samples.Now), authorizations);
    }

    [SkippableFact]
    public async Task AcmeNonce_UsedTwice_OnlyTheFirstSucceeds()
    {
        Assert.True(await Acme.TryUseNonceAsync("n1", Samples.Now.AddHours(1), Samples.Now));
        Assert.False(await Acme.TryUseNonceAsync("n1", Samples.Now.AddHours(1), Samples.Now));
        Assert.True(await Acme.TryUseNonceAsync("n1-other", Samples.Now.AddHours(1), Samples.Now));
    }

    [SkippableFact]
    public async Task AcmeNonce_UseForgottenOnlyAfterItsExpiry_ThenRecordedAgain()
    {
        Assert.True(await Acme.TryUseNonceAsync("n2", Samples.Now.AddMinutes(1), Samples.Now));

        // Still within its life: the use is remembered. Past it, the row goes (the stamp's expiry refuses the nonce first).
        Assert.False(await Acme.TryUseNonceAsync("n2", Samples.Now.AddMinutes(1), Samples.Now.AddSeconds(59)));
        Assert.True(await Acme.TryUseNonceAsync("n2", Samples.Now.AddMinutes(3), Samples.Now.AddMinutes(2)));
    }

    [SkippableFact]
    public async Task AcmeAccount_AddedFoundByIdAndKey_RoundTripsEveryField()
    {
        var account = SampleAccount("acc1", "thumb1");

        Assert.True(await Acme.TryAddAccountAsync(account));

        Assert.Equal(account with { Contacts = [] }, (await Acme.FindAccountAsync("acc1"))! with { Contacts = [] });
        Assert.Equal(account.Contacts, (await Acme.FindAccountByKeyAsync("thumb1"))!.Contacts);
        Assert.Null(await Acme.FindAccountAsync("other"));
    }

    [SkippableFact]
    public async Task AcmeAccount_SecondWithTheSameKey_NotAdded()
    {
        Assert.True(await Acme.TryAddAccountAsync(SampleAccount("acc1", "thumb1")));

        Assert.False(await Acme.TryAddAccountAsync(SampleAccount("acc2", "thumb1")));
        Assert.Null(await Acme.FindAccountAsync("acc2"));
    }

    [SkippableFact]
    public async Task AcmeAccount_UpdateFromAStaleVersionOrToAnotherAccountsKey_Refused()
    {
        await Acme.TryAddAccountAsync(SampleAccount("acc1", "thumb1"));
        await Acme.TryAddAccountAsync(SampleAccount("acc2", "thumb2"));
        var read = (await Acme.FindAccountAsync("acc1"))!;

        Assert.False(await Acme.TryUpdateAccountAsync(read with { KeyThumbprint = "thumb2" }));
        Assert.True(await Acme.TryUpdateAccountAsync(read with { KeyThumbprint = "thumb3", Status = AcmeStatus.Deactivated }));
        Assert.False(await Acme.TryUpdateAccountAsync(read with { Contacts = [] }));

        var now = (await Acme.FindAccountByKeyAsync("thumb3"))!;
        Assert.Equal(("acc1", AcmeStatus.Deactivated, 1), (now.Id, now.Status, now.Version));
        Assert.Null(await Acme.FindAccountByKeyAsync("thumb1"));
    }

    [SkippableFact]
    public async Task AcmeOrder_AddedWithAuthorizations_FoundAndListed()
    {
        var (order, authorizations) = SampleOrder("acc1", "ord1");
        await Acme.AddOrderAsync(order, authorizations);

        var found = (await Acme.FindOrderAsync("ord1"))!;
        Assert.Equal(order.Identifiers, found.Identifiers);
        Assert.Equal(order.AuthorizationIds, found.AuthorizationIds);
        Assert.Equal((order.Status, order.Expires, order.ProfileTemplateUuid), (found.Status, found.Expires, found.ProfileTemplateUuid));
        Assert.Equal(["ord1-z0", "ord1-z1"], (await Acme.AuthorizationsOfOrderAsync("ord1")).Select(a => a.Id));
        Assert.Equal(authorizations[1].Identifier, (await Acme.FindAuthorizationAsync("ord1-z1"))!.Identifier);
        Assert.Equal(["ord1"], (await Acme.OrdersOfAccountAsync("acc1", 10)).Select(o => o.Id));
        Assert.Empty(await Acme.OrdersOfAccountAsync("acc2", 10));
    }

    [SkippableFact]
    public async Task AcmeOrder_UpdatedOnceFromOneVersion_SecondWriterRefusedAndFoundByCertificate()
    {
        var (order, authorizations) = SampleOrder("acc1", "ord1");
        await Acme.AddOrderAsync(order, authorizations);
        var requestId = Guid.NewGuid();

        Assert.True(await Acme.TryUpdateOrderAsync(order with { Status = AcmeStatus.Valid, RequestUuid = requestId, CertificateSerial = "0A0B" }));
        Assert.False(await Acme.TryUpdateOrderAsync(order with { Status = AcmeStatus.Invalid }));

        var found = (await Acme.FindOrderByCertificateAsync("0A0B"))!;
        Assert.Equal(("ord1", AcmeStatus.Valid, (Guid?)requestId, 1), (found.Id, found.Status, found.RequestUuid, found.Version));
    }

    [SkippableFact]
    public async Task AcmeAuthorization_UpdatedFromAStaleVersion_Refused()
    {
        var (order, authorizations) = SampleOrder("acc1", "ord1");
        await Acme.AddOrderAsync(order, authorizations);
        var read = (await Acme.FindAuthorizationAsync("ord1-z0"))!;
        var valid = read with { Status = AcmeStatus.Valid, Challenges = [read.Challenges[0] with { Status = AcmeStatus.Valid, Validated = Samples.Now }] };

        Assert.True(await Acme.TryUpdateAuthorizationAsync(valid));
        Assert.False(await Acme.TryUpdateAuthorizationAsync(read with { Status = AcmeStatus.Invalid }));

        var now = (await Acme.FindAuthorizationAsync("ord1-z0"))!;
        Assert.Equal((AcmeStatus.Valid, AcmeStatus.Valid, (DateTimeOffset?)Samples.Now), (now.Status, now.Challenges[0].Status, now.Challenges[0].Validated));
    }
}
