using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>The managers' reports' reads (issue #21.3), on every provider.</summary>
public abstract partial class StorageContract
{
    private SqlReportStore Reports => new(Db);

    // A certificate recorded as enrollment does it (reserved, then signed), valid until notAfter.
    private async Task<string> CertificateAsync(DateTimeOffset notAfter, Guid? user = null, Guid? profile = null, string serial = "")
    {
        serial = serial.Length > 0 ? serial : Serial();
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), profile ?? Guid.NewGuid(), user ?? Guid.NewGuid(), "User"), c);
            return 0;
        });
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(
            new IssuedCertificate(serial, [0x30, 0x03, 0x02, 0x01, 0x01], "TP" + serial, notAfter.AddDays(-365), notAfter, 1), c)));
        return serial;
    }

    [SkippableFact]
    public async Task Reports_Expiring_InForceWithinTheWindowSoonestFirstPagedByKeyset()
    {
        var user = Guid.NewGuid();
        var tomorrow = Samples.Now.AddDays(1);
        var inWindow = new[]
        {
            await CertificateAsync(tomorrow, user, serial: "0A"),
            await CertificateAsync(tomorrow, serial: "0B"),
            await CertificateAsync(Samples.Now.AddDays(2)),
            await CertificateAsync(Samples.Now.AddDays(29)),
        };
        await CertificateAsync(Samples.Now.AddDays(-1));
        await CertificateAsync(Samples.Now.AddDays(30));
        await CertificateAsync(Samples.Now.AddDays(400));
        var revokedProfile = Guid.NewGuid();
        await CertificateAsync(Samples.Now.AddDays(3), profile: revokedProfile);
        await Transactions.RunAsync((uow, c) => uow.Certificates.RevokeAllAsync(revokedProfile, 1, Samples.Now, c));
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(Serial(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "User"), c);
            return 0;
        });

        var until = Samples.Now.AddDays(30);
        var first = await Reports.ExpiringAsync(Samples.Now, until, null, 3);
        var second = await Reports.ExpiringAsync(Samples.Now, until, (first[^1].NotAfter, first[^1].SerialHex), 3);
        Assert.Equal<string>(inWindow, [.. first.Select(r => r.SerialHex), .. second.Select(r => r.SerialHex)]);
        Assert.Equal((tomorrow, user, "User", CertificateStatus.Issued, (int?)1), (first[0].NotAfter, first[0].UserUuid, first[0].CertificateTemplate, first[0].Status, first[0].AuthorityId));
        Assert.Empty(await Reports.ExpiringAsync(Samples.Now, until, (second[^1].NotAfter, second[^1].SerialHex), 3));
    }

    [SkippableFact]
    public async Task Reports_CardsByStatus_CountedPerStatusAndTemplate()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        var cards = new[]
        {
            Card("r-1", SmartcardStatus.Active) with { TemplateUuid = a },
            Card("r-2", SmartcardStatus.Active) with { TemplateUuid = a },
            Card("r-3", SmartcardStatus.Active) with { TemplateUuid = b },
            Card("r-4", SmartcardStatus.New) with { TemplateUuid = a },
        };
        foreach (var card in cards)
        {
            Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(card, c)));
        }

        var counts = await Reports.CardsByStatusAsync();
        Assert.Equal(
            new[] { new CardCountRow(SmartcardStatus.New, a, 1), new CardCountRow(SmartcardStatus.Active, a, 2), new CardCountRow(SmartcardStatus.Active, b, 1) }.OrderBy(r => r.Status).ThenBy(r => r.TemplateUuid.ToString("D"), StringComparer.Ordinal),
            counts);
    }

    [SkippableFact]
    public async Task Reports_RequestsByTypeAndStatus_OnlyThoseSubmittedInThePeriod()
    {
        var day = Samples.Now.Date;
        var start = new DateTimeOffset(day, TimeSpan.Zero);
        var requests = new[]
        {
            Samples.Request(status: RequestStatus.Pending) with { Submitted = start },
            Samples.Request(status: RequestStatus.Pending) with { Submitted = start.AddHours(5) },
            Samples.Request(status: RequestStatus.Completed) with { Submitted = start.AddHours(6), RequestType = RequestType.Renew },
            Samples.Request(status: RequestStatus.Pending) with { Submitted = start.AddTicks(-1) },
            Samples.Request(status: RequestStatus.Pending) with { Submitted = start.AddDays(1) },
        };
        foreach (var r in requests)
        {
            await CreateAsync(r, [], Samples.Audit(r.Uuid));
        }

        Assert.Equal<RequestCountRow>(
            [new RequestCountRow(RequestType.Enroll, RequestStatus.Pending, 2), new RequestCountRow(RequestType.Renew, RequestStatus.Completed, 1)],
            await Reports.RequestsByTypeAndStatusAsync(start, start.AddDays(1)));
        Assert.Empty(await Reports.RequestsByTypeAndStatusAsync(start.AddYears(-1), start.AddYears(-1).AddDays(1)));
    }

    [SkippableFact]
    public async Task Reports_AuditOfUser_WhatTheyDidAndWhatWasDoneToThemNewestFirstPaged()
    {
        var user = Guid.NewGuid();
        var expected = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            var e = (i % 3) switch
            {
                0 => Samples.Audit(Guid.NewGuid()) with { Actor = user },
                1 => Samples.Audit(user),
                _ => Samples.Audit(Guid.NewGuid()),
            };
            await Transactions.RunAsync(async (uow, c) =>
            {
                await uow.Audit.AppendAsync(e, c);
                return 0;
            });
            if (i % 3 != 2)
            {
                expected.Add((await new SqlAuditLog(Db).ReadHeadAsync())!.Sequence);
            }
        }

        expected.Reverse();
        var first = await Reports.AuditOfUserAsync(user, null, 3);
        var second = await Reports.AuditOfUserAsync(user, first[^1].Sequence, 3);
        Assert.Equal<long>(expected, [.. first.Select(e => e.Sequence), .. second.Select(e => e.Sequence)]);
        Assert.All(first.Concat(second), e => Assert.True(e.Event.Actor == user || e.Event.SubjectId == user));
        Assert.Empty(await Reports.AuditOfUserAsync(user, expected[^1], 3));
        Assert.Empty(await Reports.AuditOfUserAsync(Guid.NewGuid(), null, 3));
    }
}
