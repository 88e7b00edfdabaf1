using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace OpenCM.Bench.Load;

/// <summary>
/// A minimal HTTP/1.1 keep-alive client: prebuilt request bytes, one request in flight per
/// connection, Content-Length framing. It costs the machine far less than HttpClient, so on a
/// 2-core box the numbers describe the server rather than the load generator (the role wrk plays).
/// </summary>
internal sealed class RawHttpConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly string _host;
    private readonly string _authorization;

    private RawHttpConnection(Socket socket, string host, string token)
    {
        _socket = socket;
        _host = host;
        _authorization = token.Length == 0 ? "" : $"Authorization: Bearer {token}\r\n";
    }

    public static async Task<RawHttpConnection> OpenAsync(Uri server, string token)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.Host, server.Port);
        return new RawHttpConnection(socket, $"{server.Host}:{server.Port}", token);
    }

    /// <summary>The bytes of one request; build once, send many times.</summary>
    public byte[] Build(string method, string path, string? jsonBody = null, bool authenticated = true)
    {
        var body = jsonBody is null ? [] : Encoding.UTF8.GetBytes(jsonBody);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"{method} {path} HTTP/1.1\r\nHost: {_host}\r\n")
            .Append(authenticated ? _authorization : "");
        if (jsonBody is not null)
        {
            head.Append(CultureInfo.InvariantCulture, $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n");
        }

        head.Append("\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    /// <summary>The bytes of a request with its own body type and Authorization value (EST's PKCS#10 with HTTP Basic).</summary>
    public byte[] Build(string method, string path, string body, string contentType, string authorization)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = string.Create(CultureInfo.InvariantCulture,
            $"{method} {path} HTTP/1.1\r\nHost: {_host}\r\nAuthorization: {authorization}\r\nContent-Type: {contentType}\r\nContent-Length: {bytes.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head), .. bytes];
    }

    /// <summary>Sends a request and reads the whole response; returns the status code and the body.</summary>
    public async Task<(int Status, string Body)> SendAsync(byte[] request)
    {
        await _socket.SendAsync(request, SocketFlags.None);
        var filled = 0;
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(filled)) < 0)
        {
            filled += await ReceiveAsync(filled);
        }

        var head = Encoding.ASCII.GetString(_buffer, 0, headerEnd);
        var status = int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture);
        var length = ContentLength(head);
        var total = headerEnd + 4 + length;
        while (filled < total)
        {
            filled += await ReceiveAsync(filled);
        }

        return (status, Encoding.UTF8.GetString(_buffer, headerEnd + 4, length));
    }

    public void Dispose() => _socket.Dispose();

    private async Task<int> ReceiveAsync(int offset)
    {
        if (offset == _buffer.Length)
        {
            throw new InvalidOperationException("response larger than the buffer");
        }

        var n = await _socket.ReceiveAsync(_buffer.AsMemory(offset), SocketFlags.None);
        return n > 0 ? n : throw new InvalidOperationException("the server closed the connection");
    }

    private int IndexOfHeaderEnd(int filled) => _buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line.AsSpan(15).Trim(), CultureInfo.InvariantCulture);
            }

            if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException("chunked responses are not expected from OpenCM");
            }
        }

        return 0;
    }
}
