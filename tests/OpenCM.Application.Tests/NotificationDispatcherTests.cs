using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>An outbox in memory, as the SQL one behaves for one dispatcher.</summary>
internal sealed class MemoryNotificationOutbox : INotificationOutbox
{
    public List<StoredEvent> Events { get; } = [];

    public Dictionary<string, Delivery> Deliveries { get; } = [];

    public Task<IReadOnlyList<StoredEvent>> ClaimEventsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default)
    {
        var due = Events.Take(max).ToList();
        Events.RemoveRange(0, due.Count);
        return Task.FromResult<IReadOnlyList<StoredEvent>>(due);
    }

    public Task CompleteEventAsync(long eventId, string eventType, IReadOnlyList<NewDelivery> deliveries, DateTimeOffset at, CancellationToken ct = default)
    {
        foreach (var d in deliveries)
        {
            Deliveries.TryAdd(d.Id, new Delivery(d.Id, eventId, eventType, d.Channel, d.Target, d.Payload, DeliveryStatus.Pending, 0, at, at, null, null));
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Delivery>> ClaimDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default)
    {
        var due = Deliveries.Values.Where(d => d.Status == DeliveryStatus.Pending && d.NextAttempt <= now).Take(max).ToList();
        foreach (var d in due)
        {
            Deliveries[d.Id] = d with { NextAttempt = leaseUntil };
        }

        return Task.FromResult<IReadOnlyList<Delivery>>(due);
    }

    public Task MarkDeliveredAsync(string id, int attempts, DateTimeOffset at, CancellationToken ct = default)
    {
        Deliveries[id] = Deliveries[id] with { Status = DeliveryStatus.Delivered, Attempts = attempts, Finished = at, LastError = null };
        return Task.CompletedTask;
    }

    public Task MarkFailedAsync(string id, int attempts, DateTimeOffset? retryAt, string error, DateTimeOffset at, CancellationToken ct = default)
    {
        Deliveries[id] = retryAt is { } next
            ? Deliveries[id] with { Attempts = attempts, NextAttempt = next, LastError = error }
            : Deliveries[id] with { Status = DeliveryStatus.Failed, Attempts = attempts, Finished = at, LastError = error };
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Delivery>> ListAsync(bool failedOnly, int max, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<Delivery>>([.. Deliveries.Values.Where(d => !failedOnly || d.Status == DeliveryStatus.Failed).Take(max)]);
}

/// <summary>A channel that fails the first so many sends (with an exception it is given), then takes every message.</summary>
internal sealed class FlakyChannel : INotificationChannel
{
    public string Name => "test";

    public Func<Exception>? Failure { get; init; }

    public int FailFirst { get; set; }

    public List<string> Sent { get; } = [];

    public Task<IReadOnlyList<(string Target, string Payload)>> FanOutAsync(StoredEvent e, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<(string, string)>>([("a@contoso.test", $"{{\"event\":{e.Id}}}"), ("a@contoso.test", "duplicate receiver")]);

    public Task SendAsync(Delivery delivery, CancellationToken ct)
    {
        Sent.Add(delivery.Id);
        if (FailFirst-- > 0)
        {
            throw Failure!();
        }

        return Task.CompletedTask;
    }
}

public class NotificationDispatcherTests
{
    private static (NotificationDispatcher, MemoryNotificationOutbox, FakeTimeProvider) Dispatcher(FlakyChannel channel, int maxAttempts = 10)
    {
        var outbox = new MemoryNotificationOutbox();
        outbox.Events.Add(new StoredEvent(7, new OutboxEvent(EventTypes.RequestCreated, "r", Samples.Now, To: "Pending")));
        var clock = new FakeTimeProvider(Samples.Now);
        return (new NotificationDispatcher(outbox, [channel], new NotificationOptions { MaxAttempts = maxAttempts }, clock, NullLogger<NotificationDispatcher>.Instance), outbox, clock);
    }

    [Fact]
    public async Task Deliver_FailsTwiceThenSucceeds_SameIdEachTryAfterItsBackoff()
    {
        var channel = new FlakyChannel { FailFirst = 2, Failure = () => new DeliveryException("HTTP 503") };
        var (dispatcher, outbox, clock) = Dispatcher(channel);

        Assert.Equal(0, await dispatcher.RunOnceAsync());
        var id = Assert.Single(outbox.Deliveries.Keys);
        Assert.Equal(NotificationDispatcher.DeliveryId(7, "test", "a@contoso.test"), id);
        Assert.Equal((1, "HTTP 503", Samples.Now.AddSeconds(10)), (outbox.Deliveries[id].Attempts, outbox.Deliveries[id].LastError, outbox.Deliveries[id].NextAttempt));

        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, await dispatcher.RunOnceAsync());
        Assert.Single(channel.Sent);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, await dispatcher.RunOnceAsync());
        Assert.Equal(clock.GetUtcNow().AddSeconds(20), outbox.Deliveries[id].NextAttempt);
        clock.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, await dispatcher.RunOnceAsync());

        Assert.Equal([id, id, id], channel.Sent);
        Assert.Equal((DeliveryStatus.Delivered, 3, (string?)null), (outbox.Deliveries[id].Status, outbox.Deliveries[id].Attempts, outbox.Deliveries[id].LastError));
    }

    // A burst larger than one batch (100) drains in one call, not one batch a poll; a receiver that
    // fails stops the drain, each failure waiting for its backoff.
    [Fact]
    public async Task Drain_BurstAboveOneBatch_AllDeliveredInOneCallAndFailuresStopIt()
    {
        var channel = new FlakyChannel();
        var (dispatcher, outbox, _) = Dispatcher(channel);
        outbox.Events.AddRange(Enumerable.Range(100, 249).Select(i => new StoredEvent(i, new OutboxEvent(EventTypes.RequestCreated, "r", Samples.Now, To: "Pending"))));

        Assert.Equal(250, await dispatcher.DrainAsync());
        Assert.All(outbox.Deliveries.Values, d => Assert.Equal(DeliveryStatus.Delivered, d.Status));

        var failing = new FlakyChannel { FailFirst = int.MaxValue, Failure = () => new DeliveryException("HTTP 503") };
        var (stuck, stuckOutbox, _) = Dispatcher(failing);
        Assert.Equal(0, await stuck.DrainAsync());
        Assert.Single(failing.Sent);
        Assert.Equal(1, Assert.Single(stuckOutbox.Deliveries.Values).Attempts);
    }

    [Fact]
    public async Task Deliver_FailsEveryTry_FailedAfterMaxAttemptsWithTheExceptionTypeOnly()
    {
        var channel = new FlakyChannel { FailFirst = int.MaxValue, Failure = () => new InvalidOperationException("smtp.internal.contoso.test said: password hunter2 rejected") };
        var (dispatcher, outbox, clock) = Dispatcher(channel, maxAttempts: 3);
        for (var i = 0; i < 10; i++)
        {
            await dispatcher.RunOnceAsync();
            clock.Advance(TimeSpan.FromHours(1));
        }

        var failed = Assert.Single(outbox.Deliveries.Values);
        Assert.Equal((DeliveryStatus.Failed, 3, "InvalidOperationException"), (failed.Status, failed.Attempts, failed.LastError));
        Assert.Equal(3, channel.Sent.Count);
    }

    [Fact]
    public async Task Deliver_PermanentFailure_FailedAtOnce()
    {
        var channel = new FlakyChannel { FailFirst = 1, Failure = () => new DeliveryException("the endpoint is no longer configured", permanent: true) };
        var (dispatcher, outbox, _) = Dispatcher(channel);
        await dispatcher.RunOnceAsync();
        Assert.Equal((DeliveryStatus.Failed, 1), (outbox.Deliveries.Values.Single().Status, outbox.Deliveries.Values.Single().Attempts));
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(2, 20)]
    [InlineData(5, 160)]
    [InlineData(10, 3600)]
    [InlineData(50, 3600)]
    public void Backoff_AfterNFailures_DoublesFromTenSecondsUpToTheCap(int attempts, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), new NotificationOptions().Backoff(attempts));

    [Theory]
    [InlineData("30,7,1", new[] { 1, 7, 30 })]
    [InlineData(" 14 , x, -3, 14 ", new[] { 14 })]
    [InlineData("", new int[0])]
    public void ExpiryThresholds_Configured_PositiveDistinctSmallestFirst(string configured, int[] expected) =>
        Assert.Equal(expected, new NotificationOptions { ExpiryDays = configured }.ExpiryThresholds());

    [Fact]
    public void MessageTemplate_ValuesWithLineBreaks_CannotAddHeaderLinesToTheSubject()
    {
        var (subject, body) = MessageTemplate.Render("Subject: For {{name}}\r\n\r\nHello {{name}}, {{unknown}}see {{ link }}.",
            new Dictionary<string, string> { ["name"] = "eve\r\nBcc: x@evil.test", ["link"] = "https://cm/requests/1" });
        Assert.Equal("For eve  Bcc: x@evil.test", subject);
        Assert.Equal("Hello eve\r\nBcc: x@evil.test, see https://cm/requests/1.", body);
    }
}
