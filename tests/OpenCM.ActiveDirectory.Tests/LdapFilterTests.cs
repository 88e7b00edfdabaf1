using OpenCM.Security.Sddl;

namespace OpenCM.ActiveDirectory.Tests;

public sealed class LdapFilterTests
{
    // RFC 4515 §3: the five characters that could change a filter are escaped; the rest is data.
    [Theory]
    [InlineData("alice", "alice")]
    [InlineData("*", "\\2a")]
    [InlineData("a*", "a\\2a")]
    [InlineData("x)(objectClass=*", "x\\29\\28objectClass=\\2a")]
    [InlineData("back\\slash", "back\\5cslash")]
    [InlineData("nul\0", "nul\\00")]
    [InlineData("Zoë", "Zoë")]
    public void Escape_Value_MetacharactersBecomeHex(string value, string expected) => Assert.Equal(expected, LdapFilter.Escape(value));

    [Fact]
    public void Binary_Bytes_EveryByteHex() => Assert.Equal("\\00\\ff\\2a", LdapFilter.Binary([0x00, 0xFF, 0x2A]));

    // MS-DTYP §2.4.2.2, with the domain SID Samba printed for a provisioned domain.
    [Theory]
    [InlineData("S-1-5-21-2897099983-750036601-4018742315-1102")]
    [InlineData("S-1-5-32-544")]
    [InlineData("S-1-1-0")]
    public void BinarySid_WriteThenRead_SameSid(string text)
    {
        var sid = Sid.Parse(text);
        Assert.True(BinarySid.TryRead(BinarySid.Write(sid), out var back));
        Assert.Equal(sid, back);
    }

    [Fact]
    public void BinarySid_AsActiveDirectoryStoresIt_Read()
    {
        // objectSid of a user in ldapsearch's base64, from the recipe's DC.
        var bytes = Convert.FromBase64String("AQUAAAAAAAUVAAAAzzyurHmmtCwrJInvTgQAAA==");
        Assert.True(BinarySid.TryRead(bytes, out var sid));
        Assert.Equal("S-1-5-21-2897099983-750036601-4018742315-1102", sid.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("AQ==")]
    [InlineData("AgEAAAAAAAUVAAAA")]
    [InlineData("AQIAAAAAAAUVAAAA")]
    public void BinarySid_Malformed_False(string base64) => Assert.False(BinarySid.TryRead(Convert.FromBase64String(base64), out _));

    [Theory]
    [InlineData("https://dc:636")]
    [InlineData("dc.contoso.com")]
    [InlineData("ldap://dc.contoso.com")]
    public void Options_BadOrPlaintextUrl_ConfigurationRefused(string url) =>
        Assert.Throws<LdapConfigurationException>(() => new LdapDirectory(new LdapOptions { Url = url, BaseDn = "DC=x" }, TimeProvider.System));

    [Fact]
    public void Options_NoBaseDn_ConfigurationRefused() =>
        Assert.Throws<LdapConfigurationException>(() => new LdapDirectory(new LdapOptions { Url = "ldaps://dc" }, TimeProvider.System));
}
