using System.Security.Claims;

namespace OpenCM.Composition.Tests;

public sealed class CallerResolverTests
{
    private static readonly Guid User = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

    public static TheoryData<string, string> OneUserInEveryForm => new()
    {
        { ClaimNames.ObjectGuid, User.ToString("D") },
        { ClaimNames.ObjectGuid, Convert.ToBase64String(User.ToByteArray()) },
        { ClaimNames.ObjectGuidUri, User.ToString("D") },
        { ClaimNames.Oid, User.ToString("D") },
        { ClaimNames.Subject, User.ToString("D") },
    };

    [Theory]
    [MemberData(nameof(OneUserInEveryForm))]
    public void UserUuid_AnyClaimForm_TheOneUser(string claim, string value) =>
        Assert.Equal(User, CallerResolver.UserUuid(new ClaimsPrincipal(new ClaimsIdentity([new Claim(claim, value)], "test"))));

    [Fact]
    public void UserUuid_NoGuidClaim_None() =>
        Assert.Null(CallerResolver.UserUuid(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimNames.Subject, "not-a-guid"), new Claim(ClaimNames.Name, "x")], "test"))));
}
