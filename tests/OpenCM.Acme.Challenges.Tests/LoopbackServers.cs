using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OpenCM.Acme.Challenges.Tests;

/// <summary>
/// A tiny HTTP server on loopback for http-01: reads one request's head and answers with the raw
/// bytes <see cref="Answer"/> gives for its path, or, when that is null, never answers.
/// </summary>
internal sealed class TokenServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public TokenServer(Func<string, byte[]?> answer)
    {
        Answer = answer;
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public Func<string, byte[]?> Answer { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The request heads received, as text.</summary>
    public List<string> Requests { get; } = [];

    public static byte[] Response(int status, string body, bool contentLength = true)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = $"HTTP/1.1 {status} X\r\n" + (contentLength ? $"Content-Length: {bytes.Length}\r\n" : "") + "Connection: close\r\n\r\n";
        return [.. Encoding.ASCII.GetBytes(head), .. bytes];
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var head = new StringBuilder();
                    var buffer = new byte[1];
                    while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(buffer, _stop.Token) == 1)
                    {
                        head.Append((char)buffer[0]);
                    }

                    lock (Requests)
                    {
                        Requests.Add(head.ToString());
                    }

                    var path = head.ToString().Split(' ') is { Length: > 1 } parts ? parts[1] : "";
                    if (Answer(path) is { } response)
                    {
                        await stream.WriteAsync(response, _stop.Token);
                        // Without Content-Length the body ends when the connection does.
                        client.Client.Shutdown(SocketShutdown.Send);
                    }
                    else
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}

/// <summary>A DNS server on loopback UDP that answers each query with what <see cref="Answer"/> makes of it (null: silence).</summary>
internal sealed class FakeDnsServer : IAsyncDisposable
{
    private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FakeDnsServer(Func<byte[], byte[]?> answer)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                UdpReceiveResult query;
                try
                {
                    query = await _udp.ReceiveAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (SocketException)
                {
                    return;
                }

                if (answer(query.Buffer) is { } reply)
                {
                    await _udp.SendAsync(reply, query.RemoteEndPoint, _stop.Token);
                }
            }
        });
    }

    public IPEndPoint EndPoint => (IPEndPoint)_udp.Client.LocalEndPoint!;

    /// <summary>A response header echoing the query's id and question, with these flags and counts, then <paramref name="answers"/>.</summary>
    public static byte[] Reply(byte[] query, ushort flags, ushort answerCount, byte[] answers)
    {
        var end = 12;
        while (query[end] != 0)
        {
            end += query[end] + 1;
        }

        end += 5; // the root label, QTYPE, QCLASS
        byte[] header = [query[0], query[1], (byte)(flags >> 8), (byte)flags, 0, 1, (byte)(answerCount >> 8), (byte)answerCount, 0, 0, 0, 0];
        return [.. header, .. query.AsSpan(12, end - 12), .. answers];
    }

    /// <summary>One TXT answer record for the question's name (a pointer to offset 12) with the given character-strings.</summary>
    public static byte[] Txt(params string[] strings)
    {
        var data = strings.SelectMany(s => new[] { (byte)s.Length }.Concat(Encoding.ASCII.GetBytes(s))).ToArray();
        return [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, (byte)(data.Length >> 8), (byte)data.Length, .. data];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
