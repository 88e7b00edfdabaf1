using System.Collections.Concurrent;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>The read cache's settings (configuration section <c>Storage:ReadCache</c>; docs/configuration.md lists its keys).</summary>
public sealed class ReadCacheOptions
{
    /// <summary>The configuration section it is bound from.</summary>
    public const string Section = "Storage:ReadCache";

    /// <summary>False reads every request from the database, as before issue #25.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The most requests kept.</summary>
    public int Entries { get; set; } = 10_000;

    /// <summary>About how many bytes the kept requests may take (their text counted twice, as .NET keeps UTF-16, plus a fixed overhead each).</summary>
    public long MaxBytes { get; set; } = 16L * 1024 * 1024;
}

/// <summary>
/// A read cache of requests by id in front of the SQL store (issue #25.4, decision 0016). Each
/// copy is tagged with the provider's change stamp taken before it was read; a lookup trusts it
/// only while the provider's stamp still equals that tag, so any commit the provider has seen
/// (its own writes at once, another connection's or process's through its change signal)
/// turns every copy into a miss. Nothing about callers is kept: rights are checked on the copy,
/// per caller, where they always were (<see cref="AccessPolicy.RightsOn"/> in the use cases).
/// Bounded in entries and in approximate bytes; when over either, arbitrary entries go.
/// </summary>
public sealed class CachedRequestStore : IRequestStore
{
    // An entry's fixed cost beside its text: the record, its lists, the dictionary node, boxed Guids.
    private const int EntryOverhead = 600;

    private readonly IRequestStore _inner;
    private readonly StorageProvider _db;
    private readonly int _maxEntries;
    private readonly long _maxBytes;
    private readonly ConcurrentDictionary<Guid, Entry> _entries = new();
    private readonly Lock _evicting = new();
    private long _bytes;
    private int _count;
    private long _hits;
    private long _misses;

    public CachedRequestStore(IRequestStore inner, StorageProvider db, ReadCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(options);
        _inner = inner;
        _db = db;
        _maxEntries = Math.Max(1, options.Entries);
        _maxBytes = Math.Max(EntryOverhead, options.MaxBytes);
    }

    /// <summary>Requests kept now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The approximate bytes the kept requests take.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Lookups answered from the cache.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Lookups that read the database (not kept, changed since, or the change signal down).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default)
    {
        // 1. The stamp BEFORE the read: a commit after it changes the next stamp, so what this
        //    read returns is never trusted past a commit it might not have seen.
        if (!_db.TryGetChangeStamp(out var stamp))
        {
            Interlocked.Increment(ref _misses);
            return _inner.FindAsync(id, ct);
        }

        if (_entries.TryGetValue(id, out var kept) && kept.Stamp == stamp)
        {
            Interlocked.Increment(ref _hits);
            return kept.Found;
        }

        Interlocked.Increment(ref _misses);
        return ReadAndKeepAsync(id, stamp, ct);
    }

    // Lists are read from the database: a page's rows come from the reader index, not by id.
    public Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default) => _inner.ListAsync(query, ct);

    private async Task<CmRequest?> ReadAndKeepAsync(Guid id, ChangeStamp stamp, CancellationToken ct)
    {
        var found = await _inner.FindAsync(id, ct).ConfigureAwait(false);
        if (found is null)
        {
            // Unknown ids are not kept: a client cannot fill the cache with misses.
            return null;
        }

        // The copy handed out and kept is the same object, so its lists must not be ones a caller could change.
        var frozen = found with { DataCollection = Array.AsReadOnly(found.DataCollection.ToArray()), Votes = Array.AsReadOnly(found.Votes.ToArray()) };
        Keep(id, new Entry(stamp, Task.FromResult<CmRequest?>(frozen), SizeOf(frozen)));
        return frozen;
    }

    private void Keep(Guid id, Entry entry)
    {
        while (true)
        {
            if (_entries.TryGetValue(id, out var old))
            {
                if (_entries.TryUpdate(id, entry, old))
                {
                    Interlocked.Add(ref _bytes, entry.Size - old.Size);
                    break;
                }
            }
            else if (_entries.TryAdd(id, entry))
            {
                Interlocked.Add(ref _bytes, entry.Size);
                Interlocked.Increment(ref _count);
                break;
            }
        }

        if (Volatile.Read(ref _count) > _maxEntries || Interlocked.Read(ref _bytes) > _maxBytes)
        {
            Evict();
        }
    }

    // Down to nine tenths of both bounds, so that eviction runs once per many inserts rather than
    // on each. The dictionary's order is its hash order: in effect a random choice of victims.
    private void Evict()
    {
        lock (_evicting)
        {
            var entries = _maxEntries - Math.Max(1, _maxEntries / 10);
            var bytes = _maxBytes - (_maxBytes / 10);
            foreach (var pair in _entries)
            {
                if (Volatile.Read(ref _count) <= entries && Interlocked.Read(ref _bytes) <= bytes)
                {
                    return;
                }

                if (_entries.TryRemove(pair))
                {
                    Interlocked.Add(ref _bytes, -pair.Value.Size);
                    Interlocked.Decrement(ref _count);
                }
            }
        }
    }

    private static long SizeOf(CmRequest r)
    {
        long chars = r.Comment.Length + r.SecurityDescriptor.Length;
        foreach (var item in r.DataCollection)
        {
            chars += item.Name.Length + (item.Value?.Length ?? 0) + 48;
        }

        foreach (var vote in r.Votes)
        {
            chars += vote.Comment.Length + 64;
        }

        return EntryOverhead + (2 * chars);
    }

    // The task is kept, not only the request: a hit allocates nothing.
    private sealed record Entry(ChangeStamp Stamp, Task<CmRequest?> Found, long Size);
}
