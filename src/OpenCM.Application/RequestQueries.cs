using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Filters of GET /requests.</summary>
/// <param name="Target">Only requests for this user (the API's <c>targetuser=current</c>; the help desk's user), or all.</param>
public sealed record RequestListFilter(RequestStatus? Status, Guid? Target, long After, int? Top);

/// <summary>One page of requests; <see cref="NextAfter"/> is set when more may follow.</summary>
public sealed record RequestListPage(IReadOnlyList<CmRequest> Items, long? NextAfter);

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
}
