using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>The CA notices outbox in memory, as storage keeps it.</summary>
internal sealed class MemoryOutbox : ICaOutbox
{
    public Dictionary<long, (CaNotice Notice, DateTimeOffset RetryAt, DateTimeOffset? Delivered, string? Error)> Rows { get; } = [];

    public CaNotice Enqueue(Revocation revocation, DateTimeOffset firstRetry)
    {
        var notice = new CaNotice(Rows.Count + 1, revocation, 0);
        Rows[notice.Id] = (notice, firstRetry, null, null);
        return notice;
    }

    public Task<IReadOnlyList<CaNotice>> DueAsync(DateTimeOffset now, int max, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<CaNotice>>([.. Rows.Values.Where(r => r.Delivered is null && r.RetryAt <= now).Select(r => r.Notice).OrderBy(n => n.Id).Take(max)]);

    public Task MarkDeliveredAsync(long id, DateTimeOffset at, CancellationToken ct = default)
    {
        Rows[id] = Rows[id] with { Delivered = at };
        return Task.CompletedTask;
    }

    public Task MarkFailedAsync(long id, int attempts, DateTimeOffset retryAt, string error, CancellationToken ct = default)
    {
        Rows[id] = (Rows[id].Notice with { Attempts = attempts }, retryAt, null, error);
        return Task.CompletedTask;
    }
}

/// <summary>A CA that fails its first <c>failures</c> revocations, then records what it hears.</summary>
internal sealed class FlakyRevocations(int failures) : ICertificateAuthority
{
    public IssuerProfile Issuer => throw new NotSupportedException();

    private int _failures = failures;

    public List<Revocation> Heard { get; } = [];

    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default)
    {
        if (_failures-- > 0)
        {
            throw new HttpRequestException("the CA is down");
        }

        Heard.Add(revocation);
        return Task.CompletedTask;
    }

    public Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default) => throw new NotSupportedException();
}

public class CaNoticeDeliveryTests
{
    private readonly FakeTimeProvider _clock = new(Samples.Now);
    private readonly MemoryOutbox _outbox = new();

    private CaNoticeDelivery Delivery(ICertificateAuthority ca) => new(ca, _outbox, _clock, NullLogger<CaNoticeDelivery>.Instance);

    private AppliedEffects Committed(params string[] serials) =>
        new([_outbox.Enqueue(new Revocation(serials, 1, _clock.GetUtcNow()), _clock.GetUtcNow() + CaNoticeDelivery.FirstRetryAfter)]);

    [Fact]
    public async Task Deliver_CaUp_HeardAtOnceAndMarkedDelivered()
    {
        var ca = new FlakyRevocations(0);
        await Delivery(ca).DeliverAsync(Committed("0A"));
        Assert.Equal(["0A"], Assert.Single(ca.Heard).Serials);
        Assert.Equal(Samples.Now, _outbox.Rows[1].Delivered);
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, await Delivery(ca).DeliverDueAsync());
        Assert.Single(ca.Heard);
    }

    [Fact]
    public async Task Deliver_CaDownTwice_CallerNotFailedAndRetriedWithBackoffUntilHeard()
    {
        var ca = new FlakyRevocations(2);
        var delivery = Delivery(ca);

        // 1. The committing path: the CA fails; the caller's committed change stands.
        await delivery.DeliverAsync(Committed("0B"));
        Assert.Equal((1, Samples.Now + CaNoticeDelivery.Backoff(1), "HttpRequestException"), (_outbox.Rows[1].Notice.Attempts, _outbox.Rows[1].RetryAt, _outbox.Rows[1].Error));

        // 2. Not due before its backoff; due after it, and the CA fails again: a longer wait.
        Assert.Equal(0, await delivery.DeliverDueAsync());
        _clock.Advance(CaNoticeDelivery.Backoff(1));
        Assert.Equal(0, await delivery.DeliverDueAsync());
        Assert.Equal((2, _clock.GetUtcNow() + CaNoticeDelivery.Backoff(2)), (_outbox.Rows[1].Notice.Attempts, _outbox.Rows[1].RetryAt));

        // 3. The third try reaches it, once.
        _clock.Advance(CaNoticeDelivery.Backoff(2));
        Assert.Equal(1, await delivery.DeliverDueAsync());
        Assert.Equal(["0B"], Assert.Single(ca.Heard).Serials);
        Assert.NotNull(_outbox.Rows[1].Delivered);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(5, 32)]
    [InlineData(9, 512)]
    [InlineData(10, 900)]
    [InlineData(1000, 900)]
    public void Backoff_Attempts_DoublesUpToFifteenMinutes(int attempts, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), CaNoticeDelivery.Backoff(attempts));
}
