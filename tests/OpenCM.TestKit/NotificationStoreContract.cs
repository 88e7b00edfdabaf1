using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>
/// The storage contract of the event outbox and the delivery log (issue #21.2), run against every
/// provider: derive once per provider with a fresh, migrated database per test.
/// </summary>
public abstract class NotificationStoreContract : IAsyncLifetime
{
    protected StorageProvider Db { get; private set; } = null!;

    protected abstract Task<StorageProvider> CreateAsync();

    public async Task InitializeAsync()
    {
        Db = await CreateAsync();
        Db.AuditKey ??= Samples.AuditKey;
        await Db.MigrateAsync(Samples.Clock());
    }

    public virtual async Task DisposeAsync() => await Db.DisposeAsync();

    private SqlTransactions Transactions => new(Db);

    private SqlNotificationOutbox Outbox => new(Db);

    private static readonly DateTimeOffset Lease = Samples.Now.AddMinutes(2);

    private Task<int> EnqueueAsync(OutboxEvent e) => Transactions.RunAsync(async (uow, c) =>
    {
        await uow.Events.EnqueueAsync(e, c);
        return 0;
    });

    [SkippableFact]
    public async Task Events_CommittedAndRolledBack_OnlyTheCommittedOneIsClaimed()
    {
        await EnqueueAsync(new OutboxEvent(EventTypes.RequestStatusChanged, "r-1", Samples.Now, "Pending", "Approved"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Transactions.RunAsync<int>(async (uow, c) =>
        {
            await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.RequestCreated, "r-2", Samples.Now, To: "Pending"), c);
            throw new InvalidOperationException("abandoned");
        }));

        var claimed = Assert.Single(await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10));
        Assert.Equal(new OutboxEvent(EventTypes.RequestStatusChanged, "r-1", Samples.Now, "Pending", "Approved"), claimed.Event);
    }

    [SkippableFact]
    public async Task Events_ClaimedByOneDispatcher_NotClaimedByAnotherUntilTheLeaseEnds()
    {
        await EnqueueAsync(new OutboxEvent(EventTypes.CertificateIssued, "0A0B", Samples.Now));
        var first = Assert.Single(await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10));
        Assert.Empty(await Outbox.ClaimEventsAsync(Samples.Now.AddMinutes(1), Samples.Now.AddMinutes(3), 10));

        // The first dispatcher's process ended: after its lease the event is due again, the same event.
        var second = Assert.Single(await Outbox.ClaimEventsAsync(Lease, Lease.AddMinutes(2), 10));
        Assert.Equal(first.Id, second.Id);
    }

    [SkippableFact]
    public async Task Events_Completed_DeliveriesStoredOnceAndTheEventNotClaimedAgain()
    {
        await EnqueueAsync(new OutboxEvent(EventTypes.RequestCreated, "r-1", Samples.Now, To: "Pending"));
        var e = Assert.Single(await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10));
        NewDelivery[] deliveries = [new("msg_a", "webhook", "https://a.test/hook", "{}"), new("msg_b", "email", "x@contoso.test", "{\"to\":\"x\"}")];
        await Outbox.CompleteEventAsync(e.Id, e.Event.Type, deliveries, Samples.Now);

        // A second dispatch of the same event (a lease that ran out mid-way) changes nothing.
        await Outbox.CompleteEventAsync(e.Id, e.Event.Type, [deliveries[0] with { Payload = "{\"other\":1}" }], Samples.Now.AddMinutes(5));
        Assert.Empty(await Outbox.ClaimEventsAsync(Samples.Now.AddDays(1), Samples.Now.AddDays(2), 10));

        var log = await Outbox.ListAsync(failedOnly: false, 10);
        Assert.Equal(["msg_a", "msg_b"], log.Select(d => d.Id).Order());
        Assert.All(log, d => Assert.Equal((e.Id, EventTypes.RequestCreated, DeliveryStatus.Pending, 0), (d.EventId, d.EventType, d.Status, d.Attempts)));
        Assert.Equal("{}", log.Single(d => d.Id == "msg_a").Payload);
    }

    [SkippableFact]
    public async Task Deliveries_FailedThenRetried_DueAtTheirNextAttemptThenDeliveredOrGivenUp()
    {
        await EnqueueAsync(new OutboxEvent(EventTypes.RequestCreated, "r-1", Samples.Now, To: "Pending"));
        var e = Assert.Single(await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10));
        await Outbox.CompleteEventAsync(e.Id, e.Event.Type, [new("msg_a", "webhook", "https://a.test/hook", "{}"), new("msg_b", "webhook", "https://b.test/hook", "{}")], Samples.Now);

        var claimed = await Outbox.ClaimDeliveriesAsync(Samples.Now, Lease, 10);
        Assert.Equal(["msg_a", "msg_b"], claimed.Select(d => d.Id).Order());
        Assert.Empty(await Outbox.ClaimDeliveriesAsync(Samples.Now, Lease, 10));

        await Outbox.MarkFailedAsync("msg_a", 1, Samples.Now.AddSeconds(10), "HTTP 500", Samples.Now);
        await Outbox.MarkFailedAsync("msg_b", 1, null, "the endpoint is no longer configured", Samples.Now);
        Assert.Empty(await Outbox.ClaimDeliveriesAsync(Samples.Now.AddSeconds(9), Lease, 10));
        var again = Assert.Single(await Outbox.ClaimDeliveriesAsync(Samples.Now.AddSeconds(10), Lease, 10));
        Assert.Equal(("msg_a", 1, "HTTP 500"), (again.Id, again.Attempts, again.LastError));

        await Outbox.MarkDeliveredAsync("msg_a", 2, Samples.Now.AddSeconds(11));
        await Outbox.MarkFailedAsync("msg_a", 3, Samples.Now.AddSeconds(20), "late report", Samples.Now.AddSeconds(12));
        Assert.Empty(await Outbox.ClaimDeliveriesAsync(Samples.Now.AddDays(1), Samples.Now.AddDays(2), 10));

        var log = await Outbox.ListAsync(failedOnly: false, 10);
        var a = log.Single(d => d.Id == "msg_a");
        Assert.Equal((DeliveryStatus.Delivered, 2, (string?)null, (DateTimeOffset?)Samples.Now.AddSeconds(11)), (a.Status, a.Attempts, a.LastError, a.Finished));
        var failed = Assert.Single(await Outbox.ListAsync(failedOnly: true, 10));
        Assert.Equal(("msg_b", DeliveryStatus.Failed, "the endpoint is no longer configured"), (failed.Id, failed.Status, failed.LastError));
    }

    [SkippableFact]
    public async Task ExpiryNotice_RecordedTwiceForOneThreshold_TheSecondIsRefused()
    {
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Events.TryRecordExpiryNoticeAsync("0a0b", 30, Samples.Now, c)));
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Events.TryRecordExpiryNoticeAsync("0A0B", 30, Samples.Now, c)));
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Events.TryRecordExpiryNoticeAsync("0A0B", 7, Samples.Now, c)));
    }

    [SkippableFact]
    public async Task Certificates_Expiring_OnlyIssuedOrCurrentNotRevokedWithinTheWindow()
    {
        var profile = Guid.NewGuid();
        var user = Guid.NewGuid();
        var request = Guid.NewGuid();
        async Task IssueAsync(string serial, int days)
        {
            await Transactions.RunAsync(async (uow, c) =>
            {
                await uow.Certificates.ReserveAsync(new CertificateReservation(serial, request, profile, user, "Tpl"), c);
                return await uow.Certificates.RecordIssuedAsync(new IssuedCertificate(serial, [1, 2, 3], "th" + serial, Samples.Now.AddDays(-1), Samples.Now.AddDays(days)), c);
            });
        }

        await IssueAsync("0A", 5);
        await IssueAsync("0B", 20);
        await IssueAsync("0C", 40);
        var revokedProfile = Guid.NewGuid();
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation("0D", request, revokedProfile, user, "Tpl"), c);
            await uow.Certificates.RecordIssuedAsync(new IssuedCertificate("0D", [1], "th0D", Samples.Now.AddDays(-1), Samples.Now.AddDays(3)), c);
            return await uow.Certificates.RevokeAllAsync(revokedProfile, 4, Samples.Now, c);
        });

        var expiring = await Outbox.ExpiringAsync(Samples.Now, Samples.Now.AddDays(30), 10);
        Assert.Equal(["0A", "0B"], expiring.Select(x => x.SerialHex));
        Assert.Equal((user, request, "Tpl", Samples.Now.AddDays(5)), (expiring[0].UserUuid, expiring[0].RequestUuid, expiring[0].Template, expiring[0].NotAfter));
        Assert.Equal(CertificateStatus.Revoked, (await Outbox.FindAsync("0d"))!.Status);
        Assert.Null(await Outbox.FindAsync("FF"));
    }

    [SkippableFact]
    public async Task TransitionWriter_AMoveThatRevokes_QueuesItsStatusChangeAndRevocationsInTheSameUnit()
    {
        var request = Samples.Request(status: RequestStatus.Executing);
        var profile = Guid.NewGuid();
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [], c);
            await uow.Certificates.ReserveAsync(new CertificateReservation("0E", request.Uuid, profile, request.TargetUserUuid, "Tpl"), c);
            return 0;
        });

        // A move that loses its compare-and-set queues nothing.
        Assert.Null(await Transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
            new RequestTransition(request.Uuid, request.Version + 7, RequestStatus.Executing, RequestStatus.Failed, Samples.Now), [], Samples.Audit(request.Uuid), c)));
        Assert.Empty(await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10));

        Assert.NotNull(await Transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
            new RequestTransition(request.Uuid, request.Version, RequestStatus.Executing, RequestStatus.Failed, Samples.Now),
            [new Effect.Undo(profile, 5, Samples.Now)], Samples.Audit(request.Uuid, "StatusChanged"), c)));
        var events = (await Outbox.ClaimEventsAsync(Samples.Now, Lease, 10)).Select(e => e.Event).ToList();
        Assert.Equal(
            [new OutboxEvent(EventTypes.RequestStatusChanged, request.Uuid.ToString("D"), Samples.Now, "Executing", "Failed"),
             new OutboxEvent(EventTypes.CertificateRevoked, "0E", Samples.Now, Detail: "reason=5")],
            events);
    }
}
