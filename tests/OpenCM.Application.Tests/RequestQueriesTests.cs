using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>Requests in insertion order, as the SQL stores answer a list query; records each query's limit.</summary>
internal sealed class ListedStore : IRequestStore
{
    private readonly List<StoredRequest> _rows;

    public ListedStore(IEnumerable<CmRequest> requests) => _rows = [.. requests.Select((r, i) => new StoredRequest((i + 1) * 10, r))];

    public List<int> Limits { get; } = [];

    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult(_rows.Find(r => r.Request.Uuid == id)?.Request);

    public Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default)
    {
        Limits.Add(query.Limit);
        return Task.FromResult<IReadOnlyList<StoredRequest>>([.. _rows.Where(r => r.Sequence > query.After).Take(query.Limit)]);
    }
}

/// <summary>Issue #18.1: the list a page is cut from, read a small batch at a time.</summary>
public class RequestQueriesTests
{
    private static readonly Sid Alice = Samples.UserSid(1000);
    private static readonly Sid Bob = Samples.UserSid(1001);
    private static readonly Caller AsAlice = new(Guid.NewGuid(), Alice, [], "alice");

    private static CmRequest Of(Sid owner) => Samples.Request(descriptor: $"O:{owner}D:(A;;LCRPSDRC;;;{owner})");

    [Theory]
    [InlineData(0L, 1000)]
    [InlineData(0L, 7)]
    [InlineData(150L, 1000)]
    public async Task ReadAsync_ReadableRowsAfterThePosition_EachOnceInOrderBatchesDoubling(long after, int top)
    {
        // 300 rows, every third someone else's: the access check skips those, the position still moves.
        var rows = Enumerable.Range(0, 300).Select(i => Of(i % 3 == 2 ? Bob : Alice)).ToList();
        var store = new ListedStore(rows);
        var queries = new RequestQueries(store, new OpenCmOptions());

        var listed = new List<ListedRequest>();
        await foreach (var item in queries.ReadAsync(AsAlice, new RequestListFilter(null, null, after, top)))
        {
            listed.Add(item);
        }

        var expected = rows.Select((r, i) => (Request: r, Position: (i + 1) * 10L)).Where(p => p.Position > after && !p.Request.SecurityDescriptor.Contains(Bob.Value, StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Select(e => e.Request.Uuid), listed.Select(l => l.Request.Uuid));
        Assert.Equal(expected.Select(e => e.Position), listed.Select(l => l.Position));
        var first = Math.Min(top + 1, 4);
        Assert.Equal(first, store.Limits[0]);
        Assert.All(store.Limits, l => Assert.InRange(l, 1, Math.Min(top + 1, RequestQueries.MaxReadBatch)));
        Assert.True(store.Limits.Count <= (300 / Math.Min(top + 1, RequestQueries.MaxReadBatch)) + 6, $"{store.Limits.Count} reads");
    }

    [Fact]
    public async Task ReadAsync_ConsumerStopsAfterAFew_ReadsNoMoreThanTheFirstBatch()
    {
        var store = new ListedStore(Enumerable.Range(0, 1000).Select(_ => Of(Alice)));
        var queries = new RequestQueries(store, new OpenCmOptions());
        await foreach (var _ in queries.ReadAsync(AsAlice, new RequestListFilter(null, null, 0, 1000)))
        {
            break;
        }

        Assert.Equal([4], store.Limits);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    [InlineData(int.MaxValue)]
    public async Task ReadAsync_TopOutOfRange_ValidationNamingTop(int top)
    {
        var queries = new RequestQueries(new ListedStore([]), new OpenCmOptions());
        var ex = await Assert.ThrowsAsync<OpenCmException>(async () =>
        {
            await foreach (var _ in queries.ReadAsync(AsAlice, new RequestListFilter(null, null, 0, top)))
            {
            }
        });
        Assert.Equal((ErrorKind.ValidationFailed, "top"), (ex.Error.Kind, ex.Error.Field));
    }
}
