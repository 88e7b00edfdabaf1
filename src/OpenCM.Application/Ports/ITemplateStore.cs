using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Reads of stored profile templates; they are written in a unit of work (<see cref="ITemplateWrites"/>).</summary>
public interface ITemplateStore
{
    Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default);

    Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default);
}
