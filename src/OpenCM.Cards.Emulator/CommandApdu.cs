namespace OpenCM.Cards.Emulator;

/// <summary>
/// One command APDU taken apart by ISO/IEC 7816-3's four cases, short or extended. Parsing is
/// total: a command whose length bytes do not add up is <c>null</c>, which the card answers with
/// 6700, never an exception.
/// </summary>
internal sealed record CommandApdu(byte Cla, byte Ins, byte P1, byte P2, byte[] Data, int Le, bool Extended)
{
    /// <summary>Whether CLA says more of this command follows (ISO 7816-4 command chaining, b5).</summary>
    public bool Chained => (Cla & 0x10) != 0;

    public static CommandApdu? Parse(ReadOnlySpan<byte> apdu)
    {
        if (apdu.Length < 4)
        {
            return null;
        }

        var (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
        var body = apdu[4..];
        if (body.IsEmpty)
        {
            return new CommandApdu(cla, ins, p1, p2, [], 0, false); // case 1
        }

        if (body.Length == 1)
        {
            return new CommandApdu(cla, ins, p1, p2, [], body[0] == 0 ? 256 : body[0], false); // case 2S
        }

        if (body[0] != 0)
        {
            var lc = body[0];
            if (body.Length == 1 + lc)
            {
                return new CommandApdu(cla, ins, p1, p2, body.Slice(1, lc).ToArray(), 0, false); // case 3S
            }

            if (body.Length == 2 + lc)
            {
                var le = body[1 + lc];
                return new CommandApdu(cla, ins, p1, p2, body.Slice(1, lc).ToArray(), le == 0 ? 256 : le, false); // case 4S
            }

            return null;
        }

        // Extended: 00 then two bytes.
        if (body.Length < 3)
        {
            return null;
        }

        var n = (body[1] << 8) | body[2];
        if (body.Length == 3)
        {
            return new CommandApdu(cla, ins, p1, p2, [], n == 0 ? 65536 : n, true); // case 2E
        }

        if (n == 0)
        {
            return null;
        }

        if (body.Length == 3 + n)
        {
            return new CommandApdu(cla, ins, p1, p2, body.Slice(3, n).ToArray(), 0, true); // case 3E
        }

        if (body.Length == 5 + n)
        {
            var le = (body[3 + n] << 8) | body[4 + n];
            return new CommandApdu(cla, ins, p1, p2, body.Slice(3, n).ToArray(), le == 0 ? 65536 : le, true); // case 4E
        }

        return null;
    }
}
