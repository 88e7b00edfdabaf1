using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>Removing a template (issue #23.3, <c>opencm templates remove</c>): never while something names it.</summary>
public abstract partial class StorageContract
{
    [SkippableFact]
    public async Task Templates_TryRemove_OnlyAnUnusedTemplateAtItsVersionAndCountsWhatUsesIt()
    {
        var store = new SqlTemplateStore(Db);
        ProfileTemplate Template(string name) => new() { Uuid = Guid.NewGuid(), Name = name, Version = 1 };
        Task<bool> StoreAsync(ProfileTemplate t) => Transactions.RunAsync((uow, c) => uow.Templates.TryStoreVersionAsync(t, 0, Samples.Now, c));
        Task<TemplateRemoval> RemoveAsync(Guid uuid, int version) => Transactions.RunAsync((uow, c) => uow.Templates.TryRemoveAsync(uuid, version, c));
        var (requested, issued, unused) = (Template("Requested"), Template("Issued"), Template("Unused"));
        foreach (var t in new[] { requested, issued, unused })
        {
            Assert.True(await StoreAsync(t));
        }

        // A request names one; a profile (and the request it came from) the other.
        var request = Samples.Request(status: RequestStatus.Pending) with { ProfileTemplateUuid = requested.Uuid };
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var done = Samples.Request() with { ProfileTemplateUuid = issued.Uuid };
        await CreateAsync(done, [], Samples.Audit(done.Uuid));
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Profiles.InsertAsync(new StoredProfile(Guid.NewGuid(), issued.Uuid, 1, done.TargetUserUuid, Guid.Empty, ProfileStatus.Active, done.Uuid, Samples.Now), c);
            return 0;
        });

        Assert.Equal(new TemplateRemoval(false, 1, 0, 0), await RemoveAsync(requested.Uuid, 1));
        Assert.Equal(new TemplateRemoval(false, 1, 1, 0), await RemoveAsync(issued.Uuid, 1));
        Assert.Equal(new TemplateRemoval(false, 0, 0, 0), await RemoveAsync(unused.Uuid, 2)); // a stale version: another writer changed it
        Assert.Equal(new TemplateRemoval(true, 0, 0, 0), await RemoveAsync(unused.Uuid, 1));
        Assert.Equal(new TemplateRemoval(false, 0, 0, 0), await RemoveAsync(unused.Uuid, 1)); // already gone
        Assert.Null(await store.FindAsync(unused.Uuid));
        Assert.Equal(["Issued", "Requested"], (await store.ListAsync()).Select(t => t.Name));
    }
}
