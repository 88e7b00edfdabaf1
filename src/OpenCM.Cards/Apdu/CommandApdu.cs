namespace OpenCM.Cards.Apdu;

/// <summary>
/// Command APDUs as ISO/IEC 7816-4 §5.1 encodes them: short (Lc 1..255, Le 1..256 with 256 as 00)
/// and, where the data or the expected answer is longer, extended (a 00 marker, then two-byte Lc
/// and Le, 65536 as 0000).
/// </summary>
public static class CommandApdu
{
    /// <summary>No Le: the command expects no data back (cases 1 and 3).</summary>
    public const int NoLe = 0;

    /// <summary>The largest Le of a short APDU (sent as 00).</summary>
    public const int ShortMaxLe = 256;

    /// <summary>The most data one short command carries; longer data is chained (<see cref="Chain"/>) or extended.</summary>
    public const int ShortMaxLc = 255;

    /// <summary>The largest Le of an extended APDU (sent as 0000).</summary>
    public const int ExtendedMaxLe = 65536;

    /// <summary>
    /// One command: header, then Lc and the data when there is data, then Le when an answer is
    /// expected (<paramref name="le"/> &gt; 0). Short when both fit, extended otherwise.
    /// </summary>
    public static byte[] Build(byte cla, byte ins, byte p1, byte p2, ReadOnlySpan<byte> data = default, int le = NoLe)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(le);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(le, ExtendedMaxLe);
        if (data.Length > 65535)
        {
            throw new ArgumentException("An APDU carries at most 65535 bytes of data.", nameof(data));
        }

        var extended = data.Length > ShortMaxLc || le > ShortMaxLe;
        var body = new List<byte>(4 + 3 + data.Length + 3) { cla, ins, p1, p2 };
        if (!extended)
        {
            if (!data.IsEmpty)
            {
                body.Add((byte)data.Length);
                body.AddRange(data.ToArray());
            }

            if (le > 0)
            {
                body.Add((byte)(le == ShortMaxLe ? 0 : le));
            }

            return [.. body];
        }

        body.Add(0);
        if (!data.IsEmpty)
        {
            body.Add((byte)(data.Length >> 8));
            body.Add((byte)data.Length);
            body.AddRange(data.ToArray());
        }

        if (le > 0)
        {
            body.Add((byte)(le == ExtendedMaxLe ? 0 : le >> 8));
            body.Add((byte)(le == ExtendedMaxLe ? 0 : le));
        }

        return [.. body];
    }

    /// <summary>
    /// The commands of ISO 7816-4 command chaining (§5.1.1.1, CLA bit 0x10): data longer than a
    /// short command takes, in pieces of 255, each but the last with the chaining bit. What
    /// OpenSC sends for its PUT DATA (SC_APDU_FLAGS_CHAINING) to a card without extended APDUs.
    /// </summary>
    public static IReadOnlyList<byte[]> Chain(byte cla, byte ins, byte p1, byte p2, ReadOnlySpan<byte> data)
    {
        if (data.Length <= ShortMaxLc)
        {
            return [Build(cla, ins, p1, p2, data)];
        }

        var commands = new List<byte[]>();
        for (var offset = 0; offset < data.Length; offset += ShortMaxLc)
        {
            var length = Math.Min(ShortMaxLc, data.Length - offset);
            var last = offset + length == data.Length;
            commands.Add(Build(last ? cla : (byte)(cla | 0x10), ins, p1, p2, data.Slice(offset, length)));
        }

        return commands;
    }
}

/// <summary>A card's answer: the data, then the status word (SW1 SW2; 9000 is success).</summary>
public sealed class ResponseApdu
{
    public const ushort Success = 0x9000;

    private ResponseApdu(byte[] data, ushort statusWord)
    {
        Data = data;
        StatusWord = statusWord;
    }

    public byte[] Data { get; }

    public ushort StatusWord { get; }

    public bool IsSuccess => StatusWord == Success;

    /// <summary>Splits a response APDU; one shorter than a status word is <see cref="CardRefusal.Malformed"/>.</summary>
    public static ResponseApdu Parse(byte[] response)
    {
        if (response is null || response.Length < 2)
        {
            throw new CardException(CardRefusal.Malformed, "The card answered with less than a status word.");
        }

        var sw = (ushort)((response[^2] << 8) | response[^1]);
        return new ResponseApdu(response[..^2], sw);
    }
}
