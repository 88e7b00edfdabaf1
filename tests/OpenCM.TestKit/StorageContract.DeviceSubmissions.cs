using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>What a protocol front-end submitted with a device request (issue #24.1): kept with the request, found by the client's reference.</summary>
public abstract partial class StorageContract
{
    [SkippableFact]
    public async Task DeviceSubmissions_InsertedWithTheRequest_ReadBackByRequestAndByReference()
    {
        var store = new SqlDeviceSubmissions(Db);
        var caller = Guid.NewGuid();
        var request = Samples.Request(status: RequestStatus.Pending);
        var submission = new DeviceSubmission(request.Uuid, EnrollmentProtocol.Scep, caller, "txn-1", "MIIBxyz=",
            [new RequestedName(RequestedNameKind.Dns, "a.test"), new RequestedName(RequestedNameKind.Ip, "::1"), new RequestedName(RequestedNameKind.Uri, "spiffe://x/y")], Samples.Now);
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [], c);
            await uow.DeviceSubmissions.InsertAsync(submission, c);
            return 0;
        });

        var found = await store.FindAsync(request.Uuid);
        Assert.NotNull(found);
        Assert.Equal(submission with { Names = [] }, found with { Names = [] });
        Assert.Equal(submission.Names, found.Names);
        Assert.Equal(request.Uuid, (await store.FindByReferenceAsync(EnrollmentProtocol.Scep, caller, "txn-1"))?.RequestUuid);

        // The reference is the client's within its protocol and caller only.
        Assert.Null(await store.FindByReferenceAsync(EnrollmentProtocol.Acme, caller, "txn-1"));
        Assert.Null(await store.FindByReferenceAsync(EnrollmentProtocol.Scep, Guid.NewGuid(), "txn-1"));
        Assert.Null(await store.FindByReferenceAsync(EnrollmentProtocol.Scep, caller, "TXN-1"));
        Assert.Null(await store.FindAsync(Guid.NewGuid()));
    }

    [SkippableFact]
    public async Task DeviceSubmissions_SecondWithTheSameReference_ConflictAndItsRequestNotWritten()
    {
        var caller = Guid.NewGuid();
        Task<int> SubmitAsync(CmRequest request, string? reference) => Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [], c);
            await uow.DeviceSubmissions.InsertAsync(new DeviceSubmission(request.Uuid, EnrollmentProtocol.Est, caller, reference, "MA==", [], Samples.Now), c);
            return 0;
        });
        var first = Samples.Request(status: RequestStatus.Pending);
        await SubmitAsync(first, "same");
        var second = Samples.Request(status: RequestStatus.Pending);

        await Assert.ThrowsAsync<WriteConflictException>(() => SubmitAsync(second, "same"));
        Assert.Null(await Requests.FindAsync(second.Uuid));

        // Without a reference, any number.
        await SubmitAsync(Samples.Request(status: RequestStatus.Pending), null);
        await SubmitAsync(Samples.Request(status: RequestStatus.Pending), null);
    }
}
