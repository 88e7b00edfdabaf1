using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// A JSON array built under a byte budget (issue #18.1): a list page stops early once the next
/// item would take it past the budget, and says so with its next link. Memory per page is the
/// budget plus one item, whatever <c>top</c> asks for; the first item is always taken, so a page
/// always makes progress. The bytes are what <c>List&lt;T&gt;</c> serializes to, and go out with
/// Content-Length as every other API answer (see <see cref="EndpointContext.Json{T}"/>).
/// </summary>
internal sealed class JsonPage<T>
{
    private readonly ArrayBufferWriter<byte> _body = new(4096);
    private readonly JsonTypeInfo<T> _info;
    private readonly long _budget;

    public JsonPage(JsonTypeInfo<T> info, long budget)
    {
        _info = info;
        _budget = budget;
        _body.Write("["u8);
    }

    /// <summary>How many items the page holds.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="item"/> unless it would take a non-empty page past the budget (the page is then full).</summary>
    public bool TryAdd(T item)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(item, _info);

        // The separator and the closing bracket count too.
        if (Count > 0 && _body.WrittenCount + 1L + bytes.Length + 1 > _budget)
        {
            return false;
        }

        if (Count > 0)
        {
            _body.Write(","u8);
        }

        _body.Write(bytes);
        Count++;
        return true;
    }

    /// <summary>The page as the response: the array closed, sent with Content-Length.</summary>
    public IResult ToResult()
    {
        _body.Write("]"u8);
        return new Result(_body.WrittenMemory);
    }

    private sealed class Result(ReadOnlyMemory<byte> body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = WireFormat.JsonContentType;
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
        }
    }
}
