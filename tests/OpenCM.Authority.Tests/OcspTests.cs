using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Authority.Ocsp;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Authority.Tests;

/// <summary>Builds OCSPRequests by hand (RFC 6960 §4.1.1), including ones no client should send.</summary>
internal static class OcspRequests
{
    public const string Sha1 = "1.3.14.3.2.26";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";

    public static byte[] CertId(X509Certificate2 issuer, string serialHex, string hashOid = Sha1, int? hashLength = null)
    {
        var hash = hashOid == Sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1;
        var nameHash = OcspResponseWriter.NameHash(issuer, hash);
        var keyHash = OcspResponseWriter.KeyHash(issuer, hash);
        if (hashLength is { } n)
        {
            Array.Resize(ref nameHash, n);
            Array.Resize(ref keyHash, n);
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(hashOid);
                writer.WriteNull();
            }

            writer.WriteOctetString(nameHash);
            writer.WriteOctetString(keyHash);
            writer.WriteIntegerUnsigned(Convert.FromHexString(serialHex));
        }

        return writer.Encode();
    }

    /// <summary>An OCSPRequest of <paramref name="certIds"/>, with a nonce extension when given, and any extra request extension.</summary>
    public static byte[] Request(IEnumerable<byte[]> certIds, byte[]? nonce = null, (string Oid, bool Critical)? extra = null, int? version = null)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence())
        {
            if (version is { } v)
            {
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    writer.WriteInteger(v);
                }
            }

            using (writer.PushSequence())
            {
                foreach (var id in certIds)
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteEncodedValue(id);
                    }
                }
            }

            if (nonce is not null || extra is not null)
            {
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
                using (writer.PushSequence())
                {
                    if (nonce is not null)
                    {
                        using (writer.PushSequence())
                        {
                            writer.WriteObjectIdentifier(OcspRequestReader.NonceOid);
                            var inner = new AsnWriter(AsnEncodingRules.DER);
                            inner.WriteOctetString(nonce);
                            writer.WriteOctetString(inner.Encode());
                        }
                    }

                    if (extra is { } e)
                    {
                        using (writer.PushSequence())
                        {
                            writer.WriteObjectIdentifier(e.Oid);
                            if (e.Critical)
                            {
                                writer.WriteBoolean(true);
                            }

                            writer.WriteOctetString([0x05, 0x00]);
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>The responseStatus of an OCSPResponse.</summary>
    public static OcspResponseStatus StatusOf(byte[] response)
    {
        var reader = new AsnReader(response, AsnEncodingRules.DER).ReadSequence();
        return reader.ReadEnumeratedValue<OcspResponseStatus>();
    }
}

public class OcspRequestReaderTests : IClassFixture<CaFixture>
{
    private readonly CaFixture _ca;

    public OcspRequestReaderTests(CaFixture ca) => _ca = ca;

    public static TheoryData<string, string> Hostile => new()
    {
        { "empty", "" },
        { "garbage", "DEADBEEF" },
        { "one byte", "30" },
        { "length past the end", "30820100" },
        { "BER indefinite length", "308030800000000000" },
        { "empty sequence", "3000" },
        { "empty tbsRequest", "30023000" },
        { "an integer", "020101" },
        { "huge length", "3084FFFFFFFF" },
        { "nested too deep", string.Concat(Enumerable.Repeat("3081", 200)) },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Read_HostileBytes_MalformedRequestNoException(string name, string hex)
    {
        var (request, status) = OcspRequestReader.Read(Convert.FromHexString(hex), 16);
        Assert.True(request is null, name);
        Assert.Equal(OcspResponseStatus.MalformedRequest, status);
    }

    [Fact]
    public void Read_RandomBytes_NeverThrows()
    {
        var random = new Random(20);
        var valid = OcspRequests.Request([OcspRequests.CertId(_ca.Signer.Certificate, "4A0B")], nonce: [1, 2, 3]);
        for (var i = 0; i < 5000; i++)
        {
            // Flipped bytes and truncations of a valid request, then plain noise.
            var bytes = (byte[])valid.Clone();
            bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 256);
            _ = OcspRequestReader.Read(bytes.AsMemory(0, random.Next(bytes.Length + 1)), 16);
            var noise = new byte[random.Next(64)];
            random.NextBytes(noise);
            _ = OcspRequestReader.Read(noise, 16);
        }
    }

    [Fact]
    public void Read_TrailingBytesAfterRequest_Malformed()
    {
        var request = OcspRequests.Request([OcspRequests.CertId(_ca.Signer.Certificate, "4A0B")]);
        Assert.Equal(OcspResponseStatus.MalformedRequest, OcspRequestReader.Read(request.Append((byte)0).ToArray(), 16).Status);
    }

    private static List<(string Name, byte[] Bytes)> Refused(CaFixture ca)
    {
        var id = OcspRequests.CertId(ca.Signer.Certificate, "4A0B");
        return
        [
            ("SHA-384 CertID", OcspRequests.Request([OcspRequests.CertId(ca.Signer.Certificate, "4A0B", OcspRequests.Sha384, 48)])),
            ("SHA-1 CertID with a 32-byte hash", OcspRequests.Request([OcspRequests.CertId(ca.Signer.Certificate, "4A0B", OcspRequests.Sha1, 32)])),
            ("17 CertIDs", OcspRequests.Request(Enumerable.Repeat(id, 17))),
            ("no CertID", OcspRequests.Request([])),
            ("unknown critical extension", OcspRequests.Request([id], extra: ("1.2.3.4", true))),
            ("version 2", OcspRequests.Request([id], version: 1)),
            ("nonce of 40 bytes", OcspRequests.Request([id], nonce: new byte[40])),
            ("serial of 65 bytes", OcspRequests.Request([OcspRequests.CertId(ca.Signer.Certificate, "4A" + new string('0', 128))])),
        ];
    }

    [Fact]
    public void Read_RefusedRequests_Malformed()
    {
        foreach (var (name, bytes) in Refused(_ca))
        {
            var (request, status) = OcspRequestReader.Read(bytes, 16);
            Assert.True(request is null && status == OcspResponseStatus.MalformedRequest, name);
        }
    }

    [Theory]
    [InlineData("4A0B")]
    [InlineData("80FF")]
    [InlineData("00")]
    public void Read_SerialWithHighBit_SerialHexAsTheStoreKeepsIt(string serial)
    {
        // DER writes 80FF as 00 80 FF; the CA stores the unsigned octets.
        var (request, _) = OcspRequestReader.Read(OcspRequests.Request([OcspRequests.CertId(_ca.Signer.Certificate, serial)]), 16);
        Assert.Equal(serial, Assert.Single(request!.CertIds).SerialHex);
    }

    [Fact]
    public void Read_SixteenCertIdsNonceAndUnknownNonCriticalExtension_Read()
    {
        var ids = Enumerable.Range(0, 16).Select(i => OcspRequests.CertId(_ca.Signer.Certificate, $"4A{i:X2}", i % 2 == 0 ? OcspRequests.Sha1 : OcspRequests.Sha256)).ToList();
        var (request, status) = OcspRequestReader.Read(OcspRequests.Request(ids, nonce: [9, 8, 7], extra: ("1.2.3.4", false), version: 0), 16);
        Assert.Equal(OcspResponseStatus.Successful, status);
        Assert.Equal(ids.Select((_, i) => $"4A{i:X2}"), request!.CertIds.Select(c => c.SerialHex));
        Assert.Equal(ids, request.CertIds.Select(c => c.Encoded.ToArray()));
        Assert.Equal(HashAlgorithmName.SHA256, request.CertIds[1].Hash);
        Assert.Equal("0403090807", Convert.ToHexString(request.Nonce!.Value.Span));
    }
}

public class OcspResponderTests : IClassFixture<CaFixture>
{
    private readonly CaFixture _ca;

    public OcspResponderTests(CaFixture ca) => _ca = ca;

    private (OcspResponder Responder, CountingRevocations Store, FakeTimeProvider Clock) Responder(bool delegated = true, int cacheEntries = 1000)
    {
        var store = new CountingRevocations();
        var clock = new FakeTimeProvider(Samples.Now);
        var responder = new OcspResponder([new OcspIssuer(_ca.Signer, store.FindStatusAsync)], clock,
            new OcspOptions { Delegated = delegated, CacheEntries = cacheEntries });
        return (responder, store, clock);
    }

    private byte[] Ask(string serial, byte[]? nonce = null) => OcspRequests.Request([OcspRequests.CertId(_ca.Signer.Certificate, serial)], nonce);

    [Fact]
    public async Task Respond_FloodForOneSerial_OneStoreReadAndOneSignature()
    {
        var (responder, store, _) = Responder();
        using var _1 = responder;
        store.Statuses["4A0B"] = new SerialStatus(CertificateStatus.Current, null, 0);
        var first = await responder.RespondAsync(Ask("4A0B"), CancellationToken.None);
        for (var i = 0; i < 1000; i++)
        {
            Assert.Same(first.Der, (await responder.RespondAsync(Ask("4A0B"), CancellationToken.None)).Der);
        }

        Assert.Equal(1, store.StatusReads);
    }

    [Fact]
    public async Task Respond_WithNonce_SignedPerRequestStatusStillCached()
    {
        var (responder, store, _) = Responder();
        using var _1 = responder;
        var one = await responder.RespondAsync(Ask("4A0B", [1]), CancellationToken.None);
        var two = await responder.RespondAsync(Ask("4A0B", [2]), CancellationToken.None);
        Assert.True(one.HasNonce && two.HasNonce);
        Assert.NotEqual(one.Der, two.Der);
        Assert.Equal(1, store.StatusReads);
    }

    [Fact]
    public async Task Respond_AfterInvalidateOrRecheckInterval_AsksStoreAgainAndAnswersNewStatus()
    {
        var (responder, store, clock) = Responder();
        using var _1 = responder;
        store.Statuses["4A0B"] = new SerialStatus(CertificateStatus.Current, null, 0);
        var good = await responder.RespondAsync(Ask("4A0B"), CancellationToken.None);

        // Revoked here: published at once.
        store.Statuses["4A0B"] = new SerialStatus(CertificateStatus.Revoked, Samples.Now, 1);
        responder.Invalidate();
        var revoked = await responder.RespondAsync(Ask("4A0B"), CancellationToken.None);
        Assert.NotEqual(good.Der, revoked.Der);
        Assert.Equal(2, store.StatusReads);

        // Reinstated by another node: seen within the recheck interval, not before.
        store.Statuses["4A0B"] = new SerialStatus(CertificateStatus.Current, null, 0);
        Assert.Same(revoked.Der, (await responder.RespondAsync(Ask("4A0B"), CancellationToken.None)).Der);
        clock.Advance(OcspResponder.RecheckInterval);
        Assert.NotEqual(revoked.Der, (await responder.RespondAsync(Ask("4A0B"), CancellationToken.None)).Der);
        Assert.Equal(3, store.StatusReads);
    }

    [Fact]
    public async Task Respond_DistinctSerialsPastTheCap_MemoryBoundedAnswersStillRight()
    {
        var (responder, store, _) = Responder(cacheEntries: 8);
        using var _1 = responder;
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(OcspResponseStatus.Successful, (await responder.RespondAsync(Ask($"4A{i:X4}"), CancellationToken.None)).Status);
        }

        Assert.Equal(100, store.StatusReads);
    }

    [Fact]
    public async Task Respond_CertIdOfAnotherIssuer_Unauthorized()
    {
        var (responder, _, _) = Responder();
        using var _1 = responder;
        using var other = CertificateAuthorityFactory.CreateRoot("CN=Other", CaKeyAlgorithm.EcdsaP256, Samples.Now) is var root
            ? X509CertificateLoader.LoadCertificate(root.CertificateDer) : null!;
        Assert.Equal(OcspResponseStatus.Unauthorized, (await responder.RespondAsync(OcspRequests.Request([OcspRequests.CertId(other, "4A0B")]), CancellationToken.None)).Status);

        // One CertID of ours beside one of another CA's: one signature cannot answer both.
        var mixed = OcspRequests.Request([OcspRequests.CertId(_ca.Signer.Certificate, "4A0B"), OcspRequests.CertId(other, "4A0B")]);
        Assert.Equal(OcspResponseStatus.Unauthorized, OcspRequests.StatusOf((await responder.RespondAsync(mixed, CancellationToken.None)).Der));
    }

    [Fact]
    public async Task Respond_StoreUnavailable_TryLater()
    {
        var clock = new FakeTimeProvider(Samples.Now);
        using var responder = new OcspResponder([new OcspIssuer(_ca.Signer, (_, _) => throw new OpenCmException(new DomainError(ErrorKind.Unavailable, "down")))], clock, new OcspOptions());
        var answer = await responder.RespondAsync(Ask("4A0B"), CancellationToken.None);
        Assert.Equal((OcspResponseStatus.TryLater, OcspResponseStatus.TryLater), (answer.Status, OcspRequests.StatusOf(answer.Der)));
    }

    [Fact]
    public async Task Respond_OversizedRequest_MalformedWithoutParsing()
    {
        var clock = new FakeTimeProvider(Samples.Now);
        using var responder = new OcspResponder([], clock, new OcspOptions { MaxRequestBytes = 16 });
        Assert.Equal(OcspResponseStatus.MalformedRequest, (await responder.RespondAsync(Ask("4A0B"), CancellationToken.None)).Status);
    }

    [Fact]
    public void SigningKey_Delegated_ResponderCertificateRenewedAtHalfItsValidity()
    {
        using var issuer = new OcspIssuer(_ca.Signer, (_, _) => Task.FromResult<SerialStatus?>(null));
        var options = new OcspOptions { ResponderValidityDays = 7 };
        var first = issuer.SigningKey(Samples.Now, options);
        Assert.True(first.Delegated);
        Assert.Same(first, issuer.SigningKey(Samples.Now.AddDays(3.4), options));
        var renewed = issuer.SigningKey(Samples.Now.AddDays(3.5), options);
        Assert.NotSame(first, renewed);
        Assert.Equal(Samples.Now.AddDays(10.5), new DateTimeOffset(renewed.Certificate.NotAfter.ToUniversalTime()));

        // What makes it a responder certificate (RFC 6960 §4.2.2.2), issued by the CA.
        var eku = Assert.Single(renewed.Certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal("1.3.6.1.5.5.7.3.9", Assert.Single(eku.EnhancedKeyUsages.Cast<Oid>()).Value);
        Assert.NotNull(renewed.Certificate.Extensions["1.3.6.1.5.5.7.48.1.5"]);
        Assert.Equal(_ca.Signer.Certificate.SubjectName.RawData, renewed.Certificate.IssuerName.RawData);
        Assert.False(issuer.SigningKey(Samples.Now, new OcspOptions { Delegated = false }).Delegated);
    }
}
