using Microsoft.Extensions.Configuration;
using OpenCM.Composition;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #21.6: docs/configuration.md lists every setting. The options classes are found by their
/// <c>Section</c> constant in every OpenCM assembly the server is built from, so a class added
/// later is held to the reference without this test changing.
/// </summary>
public sealed class ConfigurationReferenceTests
{
    private static string Reference()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return File.ReadAllText(Path.Combine(dir.FullName, "docs", "configuration.md"));
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }

    private static IReadOnlyList<OptionsClass> Classes() => OptionsCatalogue.In(OptionsCatalogue.OpenCmAssemblies(AppContext.BaseDirectory));

    [Fact]
    public void OptionsClasses_FoundBySectionConstant_IncludeEveryKnownOne()
    {
        // The finder must see the classes of every layer; a finder that saw none would pass the next test vacuously.
        var found = Classes().Select(c => c.Type).ToHashSet();
        Type[] known = [typeof(DataOptions), typeof(AuthOptions), typeof(CaOptions), typeof(Application.OpenCmOptions), typeof(Authority.Ocsp.OcspOptions),
            typeof(Authority.Pkcs11.Pkcs11Options), typeof(ActiveDirectory.LdapOptions), typeof(Hosting.ApiOptions), typeof(Hosting.RateLimitOptions),
            typeof(Hosting.ConnectionOptions), typeof(Hosting.ProxyOptions), typeof(Auth.NegotiateOptions)];
        Assert.All(known, k => Assert.Contains(k, found));
    }

    [Fact]
    public void OptionsClasses_EveryProperty_ListedInDocsConfiguration()
    {
        var reference = Reference();
        var missing = Classes().SelectMany(OptionsCatalogue.Keys).Select(k => k.Key)
            .Concat(OptionsCatalogue.RawKeys)
            .Distinct(StringComparer.Ordinal)
            .Where(key => !reference.Contains($"`{key}`", StringComparison.Ordinal))
            .ToList();
        Assert.True(missing.Count == 0, "docs/configuration.md does not list: " + string.Join(", ", missing));
    }

    [Fact]
    public void OptionsCatalogue_NestedOptions_WalkedIntoAndComputedPropertiesLeftOut()
    {
        var keys = Classes().SelectMany(OptionsCatalogue.Keys).Select(k => k.Key).ToList();
        Assert.Contains("Ca:Pkcs11:KeyLabel", keys);
        Assert.Contains("OpenCM:TextLimits:CommentBytes", keys);
        Assert.DoesNotContain("Ca:Pkcs11", keys);
        Assert.DoesNotContain("OpenCM:IsPostgres", keys);
        Assert.DoesNotContain("Auth:PortalUsesAuthority", keys);
    }

    [Theory]
    [InlineData("Ca:ReloadSeconds", "soon", "Ca:ReloadSeconds is 'soon', which is not a whole number")]
    [InlineData("RateLimits:Enabled", "yes", "RateLimits:Enabled is 'yes', which is not true or false")]
    [InlineData("Ca:KeyAlgorithm", "Dsa", "Ca:KeyAlgorithm is 'Dsa', which is not one of EcdsaP384, EcdsaP256, Rsa3072, Rsa4096")]
    [InlineData("Api:Enbled", "false", "Api:Enbled is not a setting OpenCM reads")]
    [InlineData("Directory:Sorce", "ldap", "Directory:Sorce is not a setting OpenCM reads")]
    public void OptionsCatalogue_WrongValueOrUnknownKey_NamedInPlainWords(string key, string value, string problem)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();
        Assert.Contains(OptionsCatalogue.Problems(configuration, Classes()), p => p.StartsWith(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void OptionsCatalogue_GoodValuesListsAndRawKeys_NoProblem()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([
            new("Ca:ReloadSeconds", "10"), new("Ca:KeyAlgorithm", "rsa3072"), new("Proxies:Known:0", "10.0.0.1"), new("Proxies:Known:1", "10.0.0.0/8"),
            new("Directory:Source", "ldap"), new("Ca:Pkcs11:SlotId", ""), new("OpenCM:TextLimits:DataItems", "8"), new("Logging:LogLevel:Default", "Warning")]).Build();
        Assert.Empty(OptionsCatalogue.Problems(configuration, Classes()));
    }
}
