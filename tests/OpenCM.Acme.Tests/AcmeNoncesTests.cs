using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Acme.Tests;

/// <summary>
/// Stamped replay nonces (RFC 8555 §6.5; docs/acme.md "Nonces and several nodes"): handing one out
/// writes nothing; using one checks its stamp and expiry before it asks the store, and the store's
/// first recorded use wins.
/// </summary>
public sealed class AcmeNoncesTests
{
    private static readonly AcmeOptions Options = new() { NonceLifetime = TimeSpan.FromMinutes(10) };
    private readonly FakeTimeProvider _clock = new(Samples.Now);
    private readonly UsedNonces _store = new();

    private AcmeNonces Nonces(byte key = 1) => new(_store, _clock, Options, AcmeNonceKey.FromDerived(Enumerable.Repeat(key, 32).ToArray()));

    [Fact]
    public async Task New_ThenUsedOnce_AcceptedAndNothingWrittenUntilThen()
    {
        var nonces = Nonces();
        var nonce = nonces.New();

        Assert.Empty(_store.Used);
        await nonces.ConsumeAsync(nonce, CancellationToken.None);
        Assert.Equal(Samples.Now.AddMinutes(10), Assert.Single(_store.Used).Value);
    }

    [Fact]
    public async Task Consume_SecondUse_BadNonce()
    {
        var nonces = Nonces();
        var nonce = nonces.New();
        await nonces.ConsumeAsync(nonce, CancellationToken.None);

        await AssertBadNonceAsync(nonces, nonce);
    }

    [Fact]
    public async Task Consume_PastItsExpiry_BadNonceWithoutAskingTheStore()
    {
        var nonces = Nonces();
        var nonce = nonces.New();
        _clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromTicks(1));

        await AssertBadNonceAsync(nonces, nonce);
        Assert.Equal(0, _store.Asked);
    }

    [Fact]
    public async Task Consume_StampedUnderAnotherKey_BadNonceWithoutAskingTheStore()
    {
        var other = Nonces(key: 2).New();

        await AssertBadNonceAsync(Nonces(), other);
        Assert.Equal(0, _store.Asked);
    }

    public static TheoryData<string, string?> Hostile() => new()
    {
        { "absent", null },
        { "empty", "" },
        { "not base64url", "a b" },
        { "too long", new string('A', 65) },
        { "random, right length", Base64Url.Encode(new byte[40]) },
        { "random, short", "AAAAAAAAAAAAAAAAAAAAAA" },
        { "expiry at the end of time", Base64Url.Encode([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, .. new byte[32]]) },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task Consume_HostileNonce_BadNonceWithoutAskingTheStore(string why, string? nonce)
    {
        await AssertBadNonceAsync(Nonces(), nonce);
        Assert.True(_store.Asked == 0, why);
    }

    [Fact]
    public async Task Consume_OneBitOfTheExpiryChanged_BadNonce()
    {
        var nonces = Nonces();
        var bytes = Base64Url.TryDecode(nonces.New())!;
        bytes[7] ^= 1; // a stamp covers the expiry: a later one cannot be made up

        await AssertBadNonceAsync(nonces, Base64Url.Encode(bytes));
    }

    private static async Task AssertBadNonceAsync(AcmeNonces nonces, string? nonce)
    {
        var refused = await Assert.ThrowsAsync<OpenCmException>(() => nonces.ConsumeAsync(nonce, CancellationToken.None));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Equal(AcmeErrors.BadNonce, AcmeErrors.TypeOf(refused.Error).Split(':')[^1]);
    }

    // The store's nonce part, in memory; ACME's other state is not used here.
    private sealed class UsedNonces : IAcmeStore
    {
        public Dictionary<string, DateTimeOffset> Used { get; } = [];

        public int Asked { get; private set; }

        public Task<bool> TryUseNonceAsync(string nonce, DateTimeOffset expires, DateTimeOffset now, CancellationToken ct = default)
        {
            Asked++;
            return Task.FromResult(Used.TryAdd(nonce, expires));
        }

        public Task<bool> TryAddAccountAsync(AcmeAccount account, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<AcmeAccount?> FindAccountAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<AcmeAccount?> FindAccountByKeyAsync(string keyThumbprint, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> TryUpdateAccountAsync(AcmeAccount account, CancellationToken ct = default) => throw new NotSupportedException();

        public Task AddOrderAsync(AcmeOrder order, IReadOnlyList<AcmeAuthorization> authorizations, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<AcmeOrder?> FindOrderAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<AcmeOrder>> OrdersOfAccountAsync(string accountId, int limit, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<AcmeOrder?> FindOrderByCertificateAsync(string serialHex, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> TryUpdateOrderAsync(AcmeOrder order, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<AcmeAuthorization?> FindAuthorizationAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<AcmeAuthorization>> AuthorizationsOfOrderAsync(string orderId, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> TryUpdateAuthorizationAsync(AcmeAuthorization authorization, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
