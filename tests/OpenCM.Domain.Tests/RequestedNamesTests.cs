using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

/// <summary>Issue #24's name rules: what a template lets a device or host request in its subjectAltName.</summary>
public class RequestedNamesTests
{
    private static readonly RequestedNameRules Rules = new()
    {
        Dns = ["*.devices.contoso.com", "localhost", "*.test", "xn--bcher-kva.example"],
        Ip = ["10.0.0.0/8", "127.0.0.1", "fd00::/8"],
        Uri = ["spiffe://contoso/*", "https://id.contoso.com:8443/devices/*", "urn-like://exact.example/only"],
    };

    private static NameCheck Check(RequestedNameKind kind, string value) => RequestedNames.Check(Rules, [new RequestedName(kind, value)]);

    [Theory]
    [InlineData("a.devices.contoso.com", "a.devices.contoso.com")]
    [InlineData("A.Devices.CONTOSO.com", "a.devices.contoso.com")]
    [InlineData("a.devices.contoso.com.", "a.devices.contoso.com")]
    [InlineData("localhost", "localhost")]
    [InlineData("LOCALHOST.", "localhost")]
    [InlineData("web-1.test", "web-1.test")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("BÜCHER.example", "xn--bcher-kva.example")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    public void RequestedNames_DnsNameAllowed_AcceptedNormalised(string value, string expected)
    {
        var check = Check(RequestedNameKind.Dns, value);

        Assert.Null(check.Error);
        Assert.Equal([expected], check.Accepted!.DnsNames);
    }

    [Theory]
    [InlineData("a.b.devices.contoso.com")] // a wildcard stands for one label only
    [InlineData("devices.contoso.com")] // and not for none
    [InlineData(".devices.contoso.com")] // an empty label
    [InlineData("a..devices.contoso.com")]
    [InlineData("a.devices.contoso.com..")] // one final dot is the root, two are an empty label
    [InlineData(".")]
    [InlineData("")]
    [InlineData("*.devices.contoso.com")] // no wildcard requests
    [InlineData("*")]
    [InlineData("a_b.devices.contoso.com")] // not LDH
    [InlineData("a b.devices.contoso.com")]
    [InlineData("-a.devices.contoso.com")]
    [InlineData("a-.devices.contoso.com")]
    [InlineData("a.devices.contoso.com\u0000.evil")]
    [InlineData("a.devices.contoso.com/x")]
    [InlineData("xn--zz.test")] // an A-label that does not decode
    [InlineData("evilcontoso.com")]
    [InlineData("a.devices.contoso.com.evil")]
    [InlineData("adevices.contoso.com")]
    [InlineData("test")]
    [InlineData("1.2.3.4")] // an address is no DNS name
    [InlineData("localhost.contoso.com")]
    [InlineData("bu\u0308cher.example")] // another form of an allowed IDN is another name
    [InlineData("a\uFF0Etest")] // a full-width dot
    [InlineData("a\u200B.test")] // a zero-width space
    public void RequestedNames_DnsNameNotAllowed_ValidationFailedNamingIt(string value)
    {
        var check = Check(RequestedNameKind.Dns, value);

        Assert.Null(check.Accepted);
        Assert.Equal(ErrorKind.ValidationFailed, check.Error!.Kind);
        Assert.Equal(RequestedNames.Field, check.Error.Field);
        Assert.DoesNotContain("\u0000", check.Error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(63, true)]
    [InlineData(64, false)]
    public void RequestedNames_LabelLength_63AllowedNot64(int length, bool accepted) =>
        Assert.Equal(accepted, Check(RequestedNameKind.Dns, new string('a', length) + ".test").IsAccepted);

    [Theory]
    [InlineData(253, true)]
    [InlineData(254, false)]
    public void RequestedNames_NameLength_253AllowedNot254(int length, bool accepted)
    {
        // Three labels of 63 characters, a last one to make up the length, under a wildcard rule.
        var name = $"{new string('a', 63)}.{new string('b', 63)}.{new string('c', 63)}.{new string('d', length - 192)}";
        var rules = new RequestedNameRules { Dns = [$"*.{name[64..]}"] };
        Assert.Equal(length, name.Length);

        Assert.Equal(accepted, RequestedNames.Check(rules, [new RequestedName(RequestedNameKind.Dns, name)]).IsAccepted);
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("fd00::1", "fd00::1")]
    [InlineData("FD12:0:0::0001", "fd12::1")]
    public void RequestedNames_AddressInARule_Accepted(string value, string expected)
    {
        var check = Check(RequestedNameKind.Ip, value);

        Assert.Null(check.Error);
        Assert.Equal(IPAddress.Parse(expected), check.Accepted!.IpAddresses.Single());
    }

    [Theory]
    [InlineData("11.0.0.1")]
    [InlineData("127.0.0.2")]
    [InlineData("10")] // IPAddress.TryParse reads these; a certificate's name may not depend on the parser
    [InlineData("10.1")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("010.0.0.1")]
    [InlineData("10.0.0.256")]
    [InlineData(" 10.0.0.1")]
    [InlineData("10.0.0.1/32")]
    [InlineData("fd00::1%eth0")] // IPv6 zones
    [InlineData("fd00::1%1")]
    [InlineData("[fd00::1]")]
    [InlineData("fe80::1")]
    [InlineData("::ffff:10.0.0.1")] // an IPv4-mapped address is IPv6: no IPv6 rule covers it
    [InlineData("localhost")]
    [InlineData("")]
    public void RequestedNames_AddressNotAllowed_ValidationFailed(string value)
    {
        var check = Check(RequestedNameKind.Ip, value);

        Assert.Null(check.Accepted);
        Assert.Equal((ErrorKind.ValidationFailed, RequestedNames.Field), (check.Error!.Kind, check.Error.Field));
    }

    [Theory]
    [InlineData("spiffe://contoso/ns/default/sa/web", "spiffe://contoso/ns/default/sa/web")]
    [InlineData("SPIFFE://CONTOSO/ns/x", "spiffe://contoso/ns/x")]
    [InlineData("https://id.contoso.com:8443/devices/42", "https://id.contoso.com:8443/devices/42")]
    [InlineData("urn-like://exact.example/only", "urn-like://exact.example/only")]
    public void RequestedNames_UriUnderAPattern_AcceptedWithLowerCaseSchemeAndHost(string value, string expected)
    {
        var check = Check(RequestedNameKind.Uri, value);

        Assert.Null(check.Error);
        Assert.Equal([expected], check.Accepted!.Uris);
    }

    [Theory]
    [InlineData("spiffe://user@contoso/ns/x")] // user information
    [InlineData("spiffe://contoso@evil/ns/x")]
    [InlineData("spiffe://contoso/ns/../../admin")] // dot segments
    [InlineData("spiffe://contoso/ns/%2e%2e/admin")]
    [InlineData("spiffe://contoso/ns%2fx")]
    [InlineData("spiffe://contoso/ns/x#frag")]
    [InlineData("spiffe://contoso")] // no path below the prefix
    [InlineData("spiffe://contoso.evil/ns/x")]
    [InlineData("spiffe://contoso:1/ns/x")] // another port
    [InlineData("https://id.contoso.com/devices/42")]
    [InlineData("https://id.contoso.com:8443/devicesx/42")]
    [InlineData("http://id.contoso.com:8443/devices/42")]
    [InlineData("urn-like://exact.example/only/more")]
    [InlineData("spiffe://contoso/ns/ x")]
    [InlineData("spiffe://contoso/ns/\u00e9")]
    [InlineData("spiffe://contoso/ns\\x")]
    [InlineData("spiffe://[::1]/ns/x")]
    [InlineData("//contoso/ns/x")]
    [InlineData("contoso/ns/x")]
    public void RequestedNames_UriNotAllowed_ValidationFailed(string value)
    {
        var check = Check(RequestedNameKind.Uri, value);

        Assert.Null(check.Accepted);
        Assert.Equal((ErrorKind.ValidationFailed, RequestedNames.Field), (check.Error!.Kind, check.Error.Field));
    }

    [Fact]
    public void RequestedNames_NoRules_NothingAllowedButAskingForNothingIsFine()
    {
        var one = new RequestedName(RequestedNameKind.Dns, "localhost");

        Assert.Equal(ErrorKind.ValidationFailed, RequestedNames.Check(null, [one]).Error!.Kind);
        Assert.Equal(ErrorKind.ValidationFailed, RequestedNames.Check(new RequestedNameRules(), [one]).Error!.Kind);
        Assert.Equal(0, RequestedNames.Check(null, []).Accepted!.Count);
    }

    [Theory]
    [InlineData(100, true)]
    [InlineData(101, false)]
    [InlineData(1000, false)]
    public void RequestedNames_Count_AtMostMaxNames(int count, bool accepted)
    {
        var names = Enumerable.Range(0, count).Select(i => new RequestedName(RequestedNameKind.Dns, $"d{i}.devices.contoso.com")).ToList();

        var check = RequestedNames.Check(Rules, names);

        Assert.Equal(accepted, check.IsAccepted);
        Assert.Equal(accepted ? count : 0, check.Accepted?.DnsNames.Count ?? 0);
    }

    [Fact]
    public void RequestedNames_TotalLength_OverTheLimitRefusedBeforeParsing()
    {
        var rules = Rules with { MaxNames = 1000 };
        var names = Enumerable.Range(0, 200).Select(_ => new RequestedName(RequestedNameKind.Uri, "spiffe://contoso/" + new string('a', 200))).ToList();

        var check = RequestedNames.Check(rules, names);

        Assert.Equal(RequestedNames.Field, check.Error!.Field);
        Assert.Contains("characters", check.Error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void RequestedNames_SameNameTwiceInTwoSpellings_AcceptedOnce()
    {
        var check = RequestedNames.Check(Rules, [
            new RequestedName(RequestedNameKind.Dns, "a.test"), new RequestedName(RequestedNameKind.Dns, "A.TEST."),
            new RequestedName(RequestedNameKind.Ip, "fd00::1"), new RequestedName(RequestedNameKind.Ip, "fd00:0::1")]);

        Assert.Equal(["a.test"], check.Accepted!.DnsNames);
        Assert.Single(check.Accepted.IpAddresses);
    }

    [Theory]
    [InlineData("dns", "*.*.x")]
    [InlineData("dns", "*")]
    [InlineData("dns", "*.")]
    [InlineData("dns", "a.*.x")]
    [InlineData("dns", "*x.test")]
    [InlineData("dns", "**.test")]
    [InlineData("dns", "a_b.test")]
    [InlineData("dns", "")]
    [InlineData("ip", "10.0.0.1/8")] // bits after the prefix
    [InlineData("ip", "10.0.0.0/33")]
    [InlineData("ip", "10.0.0.0/")]
    [InlineData("ip", "10.0.0.0/08")]
    [InlineData("ip", "10/8")]
    [InlineData("ip", "fd00::/129")]
    [InlineData("ip", "fe80::1%eth0/128")]
    [InlineData("ip", "contoso")]
    [InlineData("uri", "spiffe://contoso/a*")] // '*' only as a whole last segment
    [InlineData("uri", "spiffe://*.contoso/x")]
    [InlineData("uri", "spiffe://contoso/*/x")]
    [InlineData("uri", "spiffe://u@contoso/x")]
    [InlineData("uri", "contoso/*")]
    [InlineData("uri", "spiffe://contoso/x#f")]
    [InlineData("maxNames", "0")]
    [InlineData("maxNames", "1001")]
    public void RequestedNames_BadPattern_ValidationFailedNamingTheField(string field, string pattern)
    {
        var rules = field switch
        {
            "dns" => new RequestedNameRules { Dns = ["ok.test", pattern] },
            "ip" => new RequestedNameRules { Ip = ["10.0.0.0/8", pattern] },
            "uri" => new RequestedNameRules { Uri = ["spiffe://contoso/*", pattern] },
            _ => new RequestedNameRules { Dns = ["ok.test"], MaxNames = int.Parse(pattern, System.Globalization.CultureInfo.InvariantCulture) },
        };

        var error = RequestedNames.CheckRules(rules, "certificates[0].requestedNames");

        Assert.Equal((ErrorKind.ValidationFailed, $"certificates[0].requestedNames.{field}"), (error?.Kind, error?.Field));
    }

    [Fact]
    public void RequestedNames_GoodPatterns_NoError() =>
        Assert.Null(RequestedNames.CheckRules(Rules with { Dns = [.. Rules.Dns, "*.devices.contoso.com.", "Bücher.Example"], Ip = [.. Rules.Ip, "0.0.0.0/0", "::1"] }, "r"));

    [Theory]
    [InlineData("est", EnrollmentProtocol.Est)]
    [InlineData("SCEP", EnrollmentProtocol.Scep)]
    [InlineData("Acme", EnrollmentProtocol.Acme)]
    public void EnrollmentProtocols_KnownName_AnyCase(string text, EnrollmentProtocol expected)
    {
        Assert.True(EnrollmentProtocols.TryParse(text, out var p));
        Assert.Equal(expected, p);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("cmp")]
    [InlineData("est,scep")]
    [InlineData(" est")]
    [InlineData("")]
    [InlineData(null)]
    public void EnrollmentProtocols_UnknownName_NotParsed(string? text) => Assert.False(EnrollmentProtocols.TryParse(text, out _));

    // The plan step: accepted names in subjectAltName, in one extension with the directory's.
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    private static readonly AcceptedNames Some = new(["a.test", "xn--bcher-kva.example"], [IPAddress.Parse("10.0.0.5"), IPAddress.Parse("fd00::1")], ["spiffe://contoso/ns/x"]);

    public static TheoryData<string[], string, bool> PlanCases => new()
    {
        // directory SANs, subject, expected SAN: the general names in order; critical
        { [], "CN={name}", false },
        { ["upn"], "CN={name}", false },
        { ["upn", "email"], "CN={name}", false },
        { [], "", true },
    };

    [Theory]
    [MemberData(nameof(PlanCases))]
    public void ForTemplate_RequestedNames_OneSanWithDirectoryNamesFirst(string[] directory, string subject, bool critical)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var template = new CertificateTemplate { CommonName = "Tls", Subject = subject, SubjectAlternativeNames = directory };
        var user = new SubjectAttributes("web1", Guid.Empty, "S-1-5-21-1-2-3-1001") { Upn = "web1@contoso.com", Email = "web1@contoso.com" };
        var issuer = new IssuerProfile(Now.AddDays(400), ImmutableArray<PlannedExtension>.Empty);

        var plan = CertificatePlanner.Build("4A02", key.ExportSubjectPublicKeyInfo(), CertificatePlanner.ForTemplate(template, user, Now, issuer, Some));

        var sans = plan.Extensions.Where(e => e.Oid == CertificatePlanner.Oids.SubjectAlternativeName).ToList();
        var planned = Assert.Single(sans);
        Assert.Equal(critical, planned.Critical);
        var san = new X509SubjectAlternativeNameExtension(planned.Value.AsSpan(), critical);
        Assert.Equal(["a.test", "xn--bcher-kva.example"], san.EnumerateDnsNames());
        Assert.Equal(["10.0.0.5", "fd00::1"], san.EnumerateIPAddresses().Select(a => a.ToString()));
        var decoded = san.Format(false);
        Assert.Contains("spiffe://contoso/ns/x", decoded, StringComparison.Ordinal);
        Assert.Equal(directory.Length + 5, GeneralNameTags(planned.Value).Count);
        Assert.Equal([.. directory.Select(d => d == "upn" ? 0 : 1), 2, 2, 7, 7, 6], GeneralNameTags(planned.Value));

        // In the order the certificate has always carried: the SAN before the subject key identifier.
        Assert.Equal(plan.Extensions.FindIndex(e => e.Oid == CertificatePlanner.Oids.SubjectKeyIdentifier) - 1, plan.Extensions.FindIndex(e => e.Oid == CertificatePlanner.Oids.SubjectAlternativeName));
    }

    [Fact]
    public void ForTemplate_NoRequestedNames_SamePlanAsBefore()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var template = new CertificateTemplate { CommonName = "Tls", SubjectAlternativeNames = ["upn"] };
        var user = new SubjectAttributes("web1", Guid.Empty, "S-1-5-21-1-2-3-1001") { Upn = "web1@contoso.com" };
        var issuer = new IssuerProfile(Now.AddDays(400), ImmutableArray<PlannedExtension>.Empty);

        var before = CertificatePlanner.Build("4A03", key.ExportSubjectPublicKeyInfo(), CertificatePlanner.ForTemplate(template, user, Now, issuer));
        var after = CertificatePlanner.Build("4A03", key.ExportSubjectPublicKeyInfo(), CertificatePlanner.ForTemplate(template, user, Now, issuer, AcceptedNames.None));

        Assert.Equal(before.Sha256Hex(), after.Sha256Hex());
    }

    // The context-specific tag numbers of a GeneralNames value, in order (RFC 5280 §4.2.1.6).
    private static List<int> GeneralNameTags(ImmutableArray<byte> value)
    {
        var reader = new System.Formats.Asn1.AsnReader(value.AsMemory(), System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        var tags = new List<int>();
        while (reader.HasData)
        {
            tags.Add(reader.PeekTag().TagValue);
            _ = reader.ReadEncodedValue();
        }

        return tags;
    }
}
