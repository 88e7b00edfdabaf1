using System.Runtime.CompilerServices;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Filters of GET /requests.</summary>
/// <param name="Target">Only requests for this user (the API's <c>targetuser=current</c>; the help desk's user), or all.</param>
public sealed record RequestListFilter(RequestStatus? Status, Guid? Target, long After, int? Top);

/// <summary>One page of requests; <see cref="NextAfter"/> is set when more may follow.</summary>
public sealed record RequestListPage(IReadOnlyList<CmRequest> Items, long? NextAfter);

/// <summary>A readable request and its position: the skiptoken that resumes a listing right after it.</summary>
public sealed record ListedRequest(CmRequest Request, long Position);

/// <summary>Reading requests (SPEC §2, §5): one by id, or a page of those the caller may read.</summary>
public sealed class RequestQueries
{
    private readonly IRequestStore _requests;
    private readonly OpenCmOptions _options;

    public RequestQueries(IRequestStore requests, OpenCmOptions options)
    {
        _requests = requests;
        _options = options;
    }

    /// <summary>Reads a request the caller may read; otherwise NotFound, so existence is not revealed.</summary>
    public async Task<(CmRequest Request, RequestPermission Rights)> GetAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var request = await _requests.FindAsync(id, ct).ConfigureAwait(false);
        var rights = request is null ? RequestPermission.None : AccessPolicy.RightsOn(request, caller);
        return request is not null && rights.CanRead()
            ? (request, rights)
            : throw new OpenCmException(DomainError.NotFound($"No request with id {id:D} exists."));
    }

    /// <summary>A page of the requests the caller may read, in submission order.</summary>
    public async Task<RequestListPage> ListAsync(Caller caller, RequestListFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(filter);
        var top = filter.Top ?? _options.MaxPageSize;
        if (top < 1 || top > _options.MaxPageSize)
        {
            throw new OpenCmException(DomainError.Validation("top", $"top must be between 1 and {_options.MaxPageSize}."));
        }

        // The store finds candidates through the reader index; the exact access check (deny
        // entries included) runs here. Keep reading until the page is full or the rows run out.
        var items = new List<CmRequest>(Math.Min(top, 256));
        var after = filter.After;
        while (true)
        {
            var query = new RequestQuery([.. caller.Token], filter.Status, filter.Target, after, top + 1);
            var batch = await _requests.ListAsync(query, ct).ConfigureAwait(false);
            foreach (var stored in batch)
            {
                if (items.Count == top)
                {
                    return new RequestListPage(items, after);
                }

                after = stored.Sequence;
                if (AccessPolicy.RightsOn(stored.Request, caller).CanRead())
                {
                    items.Add(stored.Request);
                }
            }

            if (batch.Count < query.Limit)
            {
                return new RequestListPage(items, null);
            }
        }
    }

    /// <summary>
    /// The requests the caller may read after <see cref="RequestListFilter.After"/>, in submission
    /// order, read from the store a batch at a time for as long as the consumer pulls: GET
    /// /requests stops after <c>top</c> items or a byte budget, whichever comes first (issue #18.1),
    /// and resumes at the last item's <see cref="ListedRequest.Position"/>. <c>top</c> is checked as
    /// <see cref="ListAsync"/> checks it. Batches start small and double up to
    /// <see cref="MaxReadBatch"/> rows: a page that its byte budget stops after a few large rows
    /// (rows written before the caps may be large) has read few more than it sends.
    /// </summary>
    public async IAsyncEnumerable<ListedRequest> ReadAsync(Caller caller, RequestListFilter filter, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(filter);
        var top = CheckTop(filter.Top);
        var batchSize = Math.Min(top + 1, FirstReadBatch);
        var after = filter.After;
        while (true)
        {
            var query = new RequestQuery([.. caller.Token], filter.Status, filter.Target, after, batchSize);
            var batch = await _requests.ListAsync(query, ct).ConfigureAwait(false);
            foreach (var stored in batch)
            {
                after = stored.Sequence;
                if (AccessPolicy.RightsOn(stored.Request, caller).CanRead())
                {
                    yield return new ListedRequest(stored.Request, stored.Sequence);
                }
            }

            if (batch.Count < query.Limit)
            {
                yield break;
            }

            batchSize = Math.Min(batchSize * 2, Math.Min(top + 1, MaxReadBatch));
        }
    }

    /// <summary>The page size <paramref name="top"/> asks for, or the default; 400 outside 1..MaxPageSize.</summary>
    public int CheckTop(int? top)
    {
        var max = _options.MaxPageSize;
        var value = top ?? max;
        return value >= 1 && value <= max
            ? value
            : throw new OpenCmException(DomainError.Validation("top", $"top must be between 1 and {max}."));
    }

    /// <summary>The most rows one store read returns while listing (rows are capped in size, issue #18.1, but old rows may not be).</summary>
    public const int MaxReadBatch = 128;

    private const int FirstReadBatch = 4;
}
