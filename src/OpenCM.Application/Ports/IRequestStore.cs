using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>A request with its position in the store's insertion order (the paging key).</summary>
public sealed record StoredRequest(long Sequence, CmRequest Request);

/// <summary>Candidates for a list page: requests some of <see cref="ReaderSids"/> may read, after <see cref="After"/>.</summary>
/// <param name="NewestFirst">
/// Newest first (the portal's lists): <see cref="After"/> is then the position the rows come
/// before, 0 meaning from the newest; the same keyset, walked the other way.
/// </param>
public sealed record RequestQuery(IReadOnlyCollection<Sid> ReaderSids, RequestStatus? Status, Guid? TargetUser, long After, int Limit, bool NewestFirst = false);

/// <summary>Reading requests (writes happen in a unit of work, <see cref="IRequestWrites"/>).</summary>
public interface IRequestStore
{
    Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default);

    /// <summary>Requests in insertion order (or newest first) that one of the query's SIDs may read (before deny ACEs are applied).</summary>
    Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default);
}
