using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Acme.Tests;

/// <summary>RFC 8555 §7.1.6's status rules, as boulder's statusForOrder derives them.</summary>
public sealed class AcmeRulesTests
{
    private static readonly DateTimeOffset Now = Samples.Now;

    private static AcmeAuthorization Authz(AcmeStatus status, double expiresInHours = 24) =>
        new("z", "a", "o", new AcmeIdentifier("dns", "a.test"), status, Now.AddHours(expiresInHours), [new AcmeChallengeState("http-01", "t", AcmeStatus.Pending)]);

    private static AcmeOrder Order(AcmeStatus stored, int authorizations, double expiresInHours = 24, string? serial = null, bool error = false) =>
        new("o", "a", Guid.Empty, stored, Now.AddHours(expiresInHours), [], [.. Enumerable.Range(0, authorizations).Select(i => "z" + i)], Now,
            CertificateSerial: serial, Error: error ? new AcmeStoredError("urn:ietf:params:acme:error:unauthorized", "no") : null);

    public static TheoryData<string, AcmeOrder, AcmeStatus[], AcmeStatus> Orders() => new()
    {
        { "all pending", Order(AcmeStatus.Pending, 2), [AcmeStatus.Pending, AcmeStatus.Pending], AcmeStatus.Pending },
        { "one valid one pending", Order(AcmeStatus.Pending, 2), [AcmeStatus.Valid, AcmeStatus.Pending], AcmeStatus.Pending },
        { "all valid", Order(AcmeStatus.Pending, 2), [AcmeStatus.Valid, AcmeStatus.Valid], AcmeStatus.Ready },
        { "one invalid", Order(AcmeStatus.Pending, 2), [AcmeStatus.Valid, AcmeStatus.Invalid], AcmeStatus.Invalid },
        { "one deactivated", Order(AcmeStatus.Pending, 2), [AcmeStatus.Deactivated, AcmeStatus.Valid], AcmeStatus.Invalid },
        { "one revoked", Order(AcmeStatus.Pending, 1), [AcmeStatus.Revoked], AcmeStatus.Invalid },
        { "order expired", Order(AcmeStatus.Pending, 1, expiresInHours: -1), [AcmeStatus.Valid], AcmeStatus.Invalid },
        { "processing", Order(AcmeStatus.Processing, 1), [AcmeStatus.Valid], AcmeStatus.Processing },
        { "processing past expiry", Order(AcmeStatus.Processing, 1, expiresInHours: -1), [AcmeStatus.Valid], AcmeStatus.Processing },
        { "certificate issued", Order(AcmeStatus.Valid, 1, serial: "0A"), [AcmeStatus.Valid], AcmeStatus.Valid },
        { "error recorded", Order(AcmeStatus.Processing, 1, error: true), [AcmeStatus.Valid], AcmeStatus.Invalid },
        { "authorization missing", Order(AcmeStatus.Pending, 2), [AcmeStatus.Valid], AcmeStatus.Invalid },
        { "no authorizations", Order(AcmeStatus.Pending, 0), [], AcmeStatus.Invalid },
    };

    [Theory]
    [MemberData(nameof(Orders))]
    public void OrderStatus_StoredStateAndAuthorizations_DerivedStatus(string why, AcmeOrder order, AcmeStatus[] authorizations, AcmeStatus expected)
    {
        Assert.True(expected == AcmeRules.OrderStatus(order, [.. authorizations.Select(s => Authz(s))], Now), why);
    }

    [Fact]
    public void OrderStatus_AnAuthorizationExpired_Invalid()
    {
        Assert.Equal(AcmeStatus.Invalid, AcmeRules.OrderStatus(Order(AcmeStatus.Pending, 1), [Authz(AcmeStatus.Valid, expiresInHours: -1)], Now));
    }

    [Theory]
    [InlineData(AcmeStatus.Pending, 1, AcmeStatus.Pending)]
    [InlineData(AcmeStatus.Pending, -1, AcmeStatus.Expired)]
    [InlineData(AcmeStatus.Valid, -1, AcmeStatus.Expired)]
    [InlineData(AcmeStatus.Invalid, -1, AcmeStatus.Invalid)]
    [InlineData(AcmeStatus.Deactivated, -1, AcmeStatus.Deactivated)]
    public void AuthorizationStatus_StoredStatusAndExpiry_DerivedStatus(AcmeStatus stored, double hours, AcmeStatus expected)
    {
        Assert.Equal(expected, AcmeRules.AuthorizationStatus(Authz(stored, hours), Now));
    }

    [Theory]
    [InlineData(true, AcmeStatus.Valid)]
    [InlineData(false, AcmeStatus.Invalid)]
    public void AfterValidation_Outcome_ChallengeAndAuthorizationMoveTogether(bool valid, AcmeStatus expected)
    {
        var after = AcmeRules.AfterValidation(Authz(AcmeStatus.Pending), "http-01", new ChallengeCheck(valid, valid ? null : "urn:ietf:params:acme:error:incorrectResponse", "x"), Now);

        Assert.Equal((expected, expected), (after.Status, after.Challenges[0].Status));
        Assert.Equal(valid, after.Challenges[0].Validated is not null);
        Assert.Equal(valid, after.Challenges[0].Error is null);
    }

    [Theory]
    [InlineData(AcmeStatus.Pending, AcmeStatus.Pending, true)]
    [InlineData(AcmeStatus.Pending, AcmeStatus.Processing, false)]
    [InlineData(AcmeStatus.Valid, AcmeStatus.Pending, false)]
    [InlineData(AcmeStatus.Invalid, AcmeStatus.Pending, false)]
    public void MayRespond_AuthorizationAndChallengeStatus_OnlyBothPending(AcmeStatus authorization, AcmeStatus challenge, bool expected)
    {
        Assert.Equal(expected, AcmeRules.MayRespond(Authz(authorization), new AcmeChallengeState("http-01", "t", challenge), Now));
    }
}
