using System.Buffers.Binary;
using System.Net.Sockets;

namespace OpenCM.Cards.Emulation;

/// <summary>
/// Puts a card emulator (an <see cref="IApduProcessor"/>) into vsmartcard's virtual reader
/// (<c>vsmartcard-vpcd</c>, the pcscd driver that listens on TCP 35963 for "Virtual PCD 00 00" and
/// 35964 for "… 00 01"), so that pcscd, OpenSC and OpenCM's own PC/SC client see it as a card in a
/// reader (issue #22.4). The card connects to the reader; while connected the card is inserted,
/// and closing the connection pulls it. Each message either way is a 2-byte big-endian length,
/// then the bytes. From the reader a 1-byte message is a control code (0 power off, 1 power on,
/// 2 reset, 4 "send your ATR", the only one answered); anything longer is a command APDU,
/// answered with the response APDU (shared/fixtures.md, vsmartcard's vpcd.c).
/// </summary>
public sealed class VpcdLink : IAsyncDisposable
{
    /// <summary>vpcd's port for its first reader ("Virtual PCD 00 00"); the second is one more.</summary>
    public const int DefaultPort = 35963;

    private const byte PowerOff = 0, PowerOn = 1, Reset = 2, GetAtr = 4;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly IApduProcessor _card;

    private VpcdLink(TcpClient tcp, IApduProcessor card)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _card = card;
    }

    /// <summary>Inserts <paramref name="card"/> into the reader listening at <paramref name="host"/>:<paramref name="port"/>; throws <see cref="SocketException"/> when no reader listens there.</summary>
    public static async Task<VpcdLink> ConnectAsync(IApduProcessor card, string host = "127.0.0.1", int port = DefaultPort, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(host, port, ct).ConfigureAwait(false);
            return new VpcdLink(tcp, card);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Answers the reader until it hangs up (pcscd stopped) or <paramref name="ct"/> is cancelled;
    /// returns normally in both cases. The card's state is the processor's; this loop keeps none.
    /// </summary>
    public async Task ServeAsync(CancellationToken ct = default)
    {
        var header = new byte[2];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!await ReadExactlyAsync(header, ct).ConfigureAwait(false))
                {
                    return;
                }

                var length = BinaryPrimitives.ReadUInt16BigEndian(header);
                var message = new byte[length];
                if (!await ReadExactlyAsync(message, ct).ConfigureAwait(false))
                {
                    return;
                }

                if (length == 1)
                {
                    switch (message[0])
                    {
                        case PowerOff or Reset:
                            _card.Reset();
                            break;
                        case PowerOn:
                            _card.Reset();
                            break;
                        case GetAtr:
                            await SendAsync(_card.Atr, ct).ConfigureAwait(false);
                            break;
                        default:
                            break; // an unknown control code: vpcd sends none other; a card ignores what it does not know
                    }

                    continue;
                }

                if (length == 0)
                {
                    continue;
                }

                await SendAsync(_card.Process(message), ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Asked to stop: the card leaves the reader.
        }
        catch (IOException)
        {
            // The reader hung up mid-message (pcscd stopped): the card is out.
        }
    }

    /// <summary>Pulls the card out of the reader.</summary>
    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    // Debian's vpcd (vsmartcard 0.8) writes a message's length and its bytes in two sends without
    // TCP_NODELAY, so Nagle holds the bytes until this side acknowledges the length, which Linux
    // delays by 40 ms: every APDU took 44 ms through pcscd (measured with strace; 0.2 ms with this). Setting
    // TCP_QUICKACK once data has arrived sends the pending acknowledgement at once (Linux does not
    // keep the option, so it is set after each read). Elsewhere the option does not exist: ignored.
    private void QuickAck()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _tcp.Client.SetRawSocketOption(IpProtoTcp, TcpQuickAck, QuickAckOn);
        }
        catch (SocketException)
        {
            // Only slower without it.
        }
    }

    // Raw: .NET's SocketOptionName has no TCP_QUICKACK and refuses names it does not know.
    private const int IpProtoTcp = 6, TcpQuickAck = 12; // netinet/in.h, linux/tcp.h
    private static readonly byte[] QuickAckOn = BitConverter.GetBytes(1);

    private async Task SendAsync(byte[] bytes, CancellationToken ct)
    {
        if (bytes.Length > ushort.MaxValue)
        {
            throw new InvalidOperationException("A vpcd message holds at most 65535 bytes.");
        }

        var framed = new byte[bytes.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)bytes.Length);
        bytes.CopyTo(framed, 2);
        await _stream.WriteAsync(framed, ct).ConfigureAwait(false);
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            QuickAck();

            read += n;
        }

        return true;
    }
}
