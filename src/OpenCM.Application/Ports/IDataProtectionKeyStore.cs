namespace OpenCM.Application;

/// <summary>
/// Where the host's data-protection key ring (the portal's cookie keys) is kept, so that every
/// node of a cluster reads one ring (issue #9). The elements arrive already sealed under the
/// master key; the store keeps them as they are. Synchronous, because ASP.NET Core's key
/// repository is (it reads at start and when it refreshes the ring, about daily).
/// </summary>
public interface IDataProtectionKeyStore
{
    /// <summary>Every stored element's XML, in name order.</summary>
    IReadOnlyList<string> All();

    /// <summary>Stores an element under <paramref name="name"/>; a name already stored keeps its first element.</summary>
    void Store(string name, string xml);
}
