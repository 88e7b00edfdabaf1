using OpenCM.Server.Auth;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #19: a replayed Negotiate token is refused by MIT Kerberos's replay cache, so the
/// server refuses to start Negotiate with that cache turned off (docs/security.md). The
/// end-to-end replay test is Cli.Tests' KerberosTests.
/// </summary>
public sealed class NegotiateReplayCacheTests
{
    public static TheoryData<string?, string?, bool> Environments => new()
    {
        { null, null, false },                    // MIT's default: dfl, a file in /var/tmp
        { "dfl", null, false },
        { "file2", null, false },
        { "none", null, true },
        { " NONE ", null, true },
        { null, "none:", true },
        { null, "None:whatever", true },
        { null, "file2:/var/tmp/opencm.rcache2", false },
        { "dfl", "none:", true },
    };

    [Theory]
    [MemberData(nameof(Environments))]
    public void ReplayCacheOff_Krb5RcacheEnvironment_TrueOnlyWhenTheTypeIsNone(string? type, string? name, bool off) =>
        Assert.Equal(off, NegotiateHandler.ReplayCacheOff(type, name));
}
