using System.Runtime.InteropServices;

namespace OpenCM.Cards.Pcsc;

/// <summary>
/// PC/SC through pcsc-lite's client library, <c>libpcsclite.so.1</c> (Debian's libpcsclite1,
/// which pcscd depends on): the readers and cards on Linux and the BSDs. pcsc-lite's ABI there is
/// not Windows': DWORD and LONG are C's <c>unsigned long</c> and <c>long</c>, 64 bits on x64
/// (pcsc-lite's wintypes.h), hence <see cref="nuint"/> and <see cref="nint"/> throughout;
/// SCARDCONTEXT and SCARDHANDLE are LONGs; SCARD_IO_REQUEST is two DWORDs. Result codes are
/// LONGs holding 0x801000xx, whose low 32 bits are PC/SC's code on every width.
/// </summary>
internal sealed unsafe partial class LibPcscLite : IPcscApi
{
    public static readonly LibPcscLite Instance = new();

    private const string Library = "libpcsclite.so.1";

    // pcsc-lite's pcsclite.h.
    private const nuint ScopeSystem = 2;
    private const nuint ShareShared = 2;
    private const nuint ProtocolT0 = 1;
    private const nuint ProtocolT1 = 2;
    private const nuint LeaveCard = 0;

    // MAX_ATR_SIZE is 33; room to spare costs nothing.
    private const int AtrBuffer = 64;

    // More than any pcscd lists (16 readers of at most 128 bytes); a larger length is not believed.
    private const int MaxReaderList = 64 * 1024;

    private LibPcscLite()
    {
    }

    public uint EstablishContext(out nint context) => Code(SCardEstablishContext(ScopeSystem, 0, 0, out context));

    public uint ReleaseContext(nint context) => Code(SCardReleaseContext(context));

    public uint ListReaders(nint context, out byte[] multiString)
    {
        multiString = [];

        // Asked twice (length, then names); a reader plugged in between makes the second too small: ask again.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            nuint length = 0;
            var rv = Code(SCardListReaders(context, null, null, &length));
            if (rv != PcscErrors.Success)
            {
                return rv;
            }

            if (length > MaxReaderList)
            {
                return PcscErrors.InsufficientBuffer;
            }

            var buffer = new byte[(int)length];
            fixed (byte* names = buffer)
            {
                rv = Code(SCardListReaders(context, null, names, &length));
            }

            if (rv == PcscErrors.InsufficientBuffer)
            {
                continue;
            }

            if (rv != PcscErrors.Success)
            {
                return rv;
            }

            multiString = buffer.AsSpan(0, (int)Math.Min(length, (nuint)buffer.Length)).ToArray();
            return rv;
        }

        return PcscErrors.InsufficientBuffer;
    }

    public uint Connect(nint context, string reader, out nint card, out uint protocol)
    {
        var rv = Code(SCardConnect(context, reader, ShareShared, ProtocolT0 | ProtocolT1, out card, out var active));
        protocol = (uint)active;
        return rv;
    }

    public uint Status(nint card, out byte[] atr)
    {
        var buffer = stackalloc byte[AtrBuffer];
        nuint atrLength = AtrBuffer;
        nuint readerLength = 0;
        nuint state = 0, protocol = 0;
        var rv = Code(SCardStatus(card, null, &readerLength, &state, &protocol, buffer, &atrLength));
        atr = rv == PcscErrors.Success ? new ReadOnlySpan<byte>(buffer, (int)Math.Min(atrLength, AtrBuffer)).ToArray() : [];
        return rv;
    }

    public uint Transmit(nint card, uint protocol, ReadOnlySpan<byte> command, Span<byte> response, out int received)
    {
        var pci = new IoRequest { Protocol = protocol, PciLength = (nuint)sizeof(IoRequest) };
        var length = (nuint)response.Length;
        uint rv;
        fixed (byte* send = command)
        fixed (byte* receive = response)
        {
            rv = Code(SCardTransmit(card, &pci, send, (nuint)command.Length, null, receive, &length));
        }

        received = rv != PcscErrors.Success ? 0 : length > int.MaxValue ? int.MaxValue : (int)length;
        return rv;
    }

    public uint BeginTransaction(nint card) => Code(SCardBeginTransaction(card));

    public uint EndTransaction(nint card) => Code(SCardEndTransaction(card, LeaveCard));

    public uint Disconnect(nint card) => Code(SCardDisconnect(card, LeaveCard));

    // The low 32 bits: 0x801000xx whether LONG is 64 bits (a positive number) or 32 (a negative one).
    private static uint Code(nint rv) => unchecked((uint)rv);

    [LibraryImport(Library)]
    private static partial nint SCardEstablishContext(nuint scope, nint reserved1, nint reserved2, out nint context);

    [LibraryImport(Library)]
    private static partial nint SCardReleaseContext(nint context);

    [LibraryImport(Library)]
    private static partial nint SCardListReaders(nint context, byte* groups, byte* readers, nuint* readersLength);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint SCardConnect(nint context, string reader, nuint shareMode, nuint preferredProtocols, out nint card, out nuint activeProtocol);

    [LibraryImport(Library)]
    private static partial nint SCardDisconnect(nint card, nuint disposition);

    [LibraryImport(Library)]
    private static partial nint SCardBeginTransaction(nint card);

    [LibraryImport(Library)]
    private static partial nint SCardEndTransaction(nint card, nuint disposition);

    [LibraryImport(Library)]
    private static partial nint SCardStatus(nint card, byte* readerName, nuint* readerLength, nuint* state, nuint* protocol, byte* atr, nuint* atrLength);

    [LibraryImport(Library)]
    private static partial nint SCardTransmit(nint card, IoRequest* sendPci, byte* send, nuint sendLength, IoRequest* receivePci, byte* receive, nuint* receiveLength);

    /// <summary>SCARD_IO_REQUEST: the protocol, and the length of this header (no protocol information follows).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct IoRequest
    {
        public nuint Protocol;
        public nuint PciLength;
    }
}
