using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Durable storage of profile templates.</summary>
public interface ITemplateStore
{
    Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default);

    Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default);

    /// <summary>Inserts or replaces (by Uuid) a template; a replacement gets the next version.</summary>
    Task<ProfileTemplate> SaveAsync(ProfileTemplate template, AuditEvent audit, CancellationToken ct = default);
}
