using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// A JSON array built under a byte budget (issue #18.1): a list page stops early once the next
/// item would take it past the budget, and says so with its next link. Memory per page is the
/// budget plus one item, whatever <c>top</c> asks for, in a buffer rented from the shared pool
/// and returned once sent; the first item is always taken, so a page always makes progress. The
/// bytes are what <c>List&lt;T&gt;</c> serializes to, and go out with Content-Length as every
/// other API answer (see <see cref="EndpointContext.Json{T}"/>).
/// </summary>
internal sealed class JsonPage<T> : IBufferWriter<byte>, IDisposable
{
    private readonly JsonTypeInfo<T> _info;
    private readonly long _budget;
    private readonly Utf8JsonWriter _writer;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _length;

    public JsonPage(JsonTypeInfo<T> info, long budget)
    {
        _info = info;
        _budget = budget;
        _writer = new Utf8JsonWriter(this, new JsonWriterOptions { Encoder = info.Options.Encoder, SkipValidation = true });
        Append("["u8);
    }

    /// <summary>How many items the page holds.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="item"/> unless it would take a non-empty page past the budget (the page is then full).</summary>
    public bool TryAdd(T item)
    {
        var before = _length;
        if (Count > 0)
        {
            Append(","u8);
        }

        JsonSerializer.Serialize(_writer, item, _info);
        _writer.Flush();
        _writer.Reset(this);

        // The closing bracket counts too. Past the budget, the item is taken back out.
        if (Count > 0 && _length + 1L > _budget)
        {
            _length = before;
            return false;
        }

        Count++;
        return true;
    }

    /// <summary>The page as the response: the array closed, sent with Content-Length, the buffer then given back.</summary>
    public IResult ToResult()
    {
        Append("]"u8);
        return new Result(this);
    }

    public void Dispose()
    {
        _writer.Dispose();
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Advance(int count) => _length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _length += bytes.Length;
    }

    private void Ensure(int sizeHint)
    {
        var needed = _length + Math.Max(sizeHint, 256);
        if (needed <= _buffer.Length)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    private sealed class Result(JsonPage<T> page) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            using (page)
            {
                var response = httpContext.Response;
                response.StatusCode = StatusCodes.Status200OK;
                response.ContentType = WireFormat.JsonContentType;
                response.ContentLength = page._length;
                await response.Body.WriteAsync(page._buffer.AsMemory(0, page._length), httpContext.RequestAborted).ConfigureAwait(false);
            }
        }
    }
}
