using System.Text;
using OpenCM.Cards.Pcsc;

namespace OpenCM.Cards.Tests;

/// <summary>
/// A hand-written PC/SC for what the real pcscd cannot be made to do in a test: each call answers
/// the code the test sets (success by default), and the card's answers come from
/// <see cref="Answer"/>. It counts what was asked of it.
/// </summary>
internal sealed class FakePcsc : IPcscApi
{
    public Exception? EstablishThrows { get; set; }

    public uint EstablishCode { get; set; }

    public uint ListCode { get; set; }

    public string[] Readers { get; set; } = ["Fake Reader 0"];

    public uint ConnectCode { get; set; }

    public byte[] CardAtr { get; set; } = Convert.FromHexString("3B80800101");

    public uint TransmitCode { get; set; }

    public uint BeginCode { get; set; }

    /// <summary>As pcsc-lite while another program holds the card: SCardBeginTransaction waits until the handle is disconnected.</summary>
    public bool HeldByAnother { get; set; }

    private readonly TaskCompletionSource _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The card: the bytes it answers a command with (as many as it likes).</summary>
    public Func<byte[], byte[]> Answer { get; set; } = _ => [0x90, 0x00];

    /// <summary>Set to report a length other than what was written (a library not to be trusted).</summary>
    public int? ReportedLength { get; set; }

    public int Begins { get; private set; }

    public int Ends { get; private set; }

    public int Disconnects { get; private set; }

    public int Releases { get; private set; }

    public List<byte[]> Sent { get; } = [];

    public uint EstablishContext(out nint context)
    {
        if (EstablishThrows is not null)
        {
            throw EstablishThrows;
        }

        context = 7;
        return EstablishCode;
    }

    public uint ReleaseContext(nint context)
    {
        Releases++;
        return 0;
    }

    public uint ListReaders(nint context, out byte[] multiString)
    {
        multiString = Encoding.UTF8.GetBytes(string.Concat(Readers.Select(r => r + "\0")) + "\0");
        return ListCode;
    }

    public uint Connect(nint context, string reader, out nint card, out uint protocol)
    {
        card = 11;
        protocol = 2;
        return Readers.Contains(reader) ? ConnectCode : PcscErrors.UnknownReader;
    }

    public uint Status(nint card, out byte[] atr)
    {
        atr = CardAtr;
        return 0;
    }

    public uint Transmit(nint card, uint protocol, ReadOnlySpan<byte> command, Span<byte> response, out int received)
    {
        Sent.Add(command.ToArray());
        received = 0;
        if (TransmitCode != 0)
        {
            return TransmitCode;
        }

        var answer = Answer(command.ToArray());
        if (answer.Length > response.Length)
        {
            return PcscErrors.InsufficientBuffer;
        }

        answer.CopyTo(response);
        received = ReportedLength ?? answer.Length;
        return 0;
    }

    public uint BeginTransaction(nint card)
    {
        Begins++;
        if (HeldByAnother)
        {
            _ = _disconnected.Task.Wait(TimeSpan.FromSeconds(30));
            return PcscErrors.InvalidHandle;
        }

        return BeginCode;
    }

    public uint EndTransaction(nint card)
    {
        Ends++;
        return 0;
    }

    public uint Disconnect(nint card)
    {
        Disconnects++;
        _disconnected.TrySetResult();
        return 0;
    }
}
