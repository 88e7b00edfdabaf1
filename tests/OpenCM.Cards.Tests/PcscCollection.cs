using OpenCM.TestKit;

namespace OpenCM.Cards.Tests;

/// <summary>
/// The tests that put cards into vsmartcard's virtual readers: pcscd and its two readers are one
/// per machine, so these run one at a time and after the others, sharing one pcscd (its lease is
/// taken once for the collection; a class's own lease only counts up).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PcscCollection : ICollectionFixture<PcscdFixture>
{
    public const string Name = "pcscd";
}

/// <summary>pcscd for the whole <see cref="PcscCollection"/>; null <see cref="Daemon"/> when it cannot run here.</summary>
public sealed class PcscdFixture : IAsyncLifetime
{
    public PcscDaemon? Daemon { get; private set; }

    public async Task InitializeAsync() => Daemon = await PcscDaemon.AcquireAsync();

    public async Task DisposeAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.ReleaseAsync();
        }
    }
}
