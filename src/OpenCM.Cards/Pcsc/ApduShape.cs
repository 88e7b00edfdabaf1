namespace OpenCM.Cards.Pcsc;

/// <summary>
/// What a command APDU's encoding says about its answer (ISO/IEC 7816-4 §5.1, cases 1-4, short
/// and extended): the most data the card may send back (Ne), and whether the command is short, so
/// that a <c>6Cxx</c> ("wrong Le, use xx") can be followed by sending it again with Le = xx. A
/// command whose bytes fit no case is passed on as it is and may get up to 64 KiB.
/// </summary>
internal readonly record struct ApduShape(int MaxData, bool IsShort, bool HasLe)
{
    /// <summary>The most data any answer carries (an extended Le of 0000).</summary>
    public const int MaxExtendedData = 65536;

    /// <summary>The most data a short answer carries (a short Le of 00).</summary>
    public const int MaxShortData = 256;

    public static ApduShape Of(ReadOnlySpan<byte> command)
    {
        var n = command.Length;
        if (n == 4)
        {
            // Case 1: no data either way; a card that sends some anyway is held to a short answer.
            return new ApduShape(MaxShortData, IsShort: true, HasLe: false);
        }

        if (n == 5)
        {
            return new ApduShape(ShortNe(command[4]), IsShort: true, HasLe: true);
        }

        if (n > 5 && command[4] != 0)
        {
            var lc = command[4];
            if (n == 5 + lc)
            {
                return new ApduShape(MaxShortData, IsShort: true, HasLe: false);
            }

            if (n == 6 + lc)
            {
                return new ApduShape(ShortNe(command[^1]), IsShort: true, HasLe: true);
            }
        }

        if (n == 7 && command[4] == 0)
        {
            return new ApduShape(ExtendedNe(command[5], command[6]), IsShort: false, HasLe: true);
        }

        if (n > 7 && command[4] == 0)
        {
            var lc = (command[5] << 8) | command[6];
            if (lc > 0 && n == 7 + lc)
            {
                return new ApduShape(MaxExtendedData, IsShort: false, HasLe: false);
            }

            if (lc > 0 && n == 9 + lc)
            {
                return new ApduShape(ExtendedNe(command[^2], command[^1]), IsShort: false, HasLe: true);
            }
        }

        return new ApduShape(MaxExtendedData, IsShort: false, HasLe: false);
    }

    /// <summary>A short command again with Le = <paramref name="le"/> (0 for 256): its Le replaced, or added where it had none.</summary>
    public static byte[] WithShortLe(ReadOnlySpan<byte> command, ApduShape shape, byte le)
    {
        if (!shape.IsShort)
        {
            throw new ArgumentException("Only a short command's Le is one byte.", nameof(shape));
        }

        byte[] again = shape.HasLe ? command.ToArray() : [.. command, 0];
        again[^1] = le;
        return again;
    }

    public static int ShortNe(byte le) => le == 0 ? MaxShortData : le;

    private static int ExtendedNe(byte high, byte low)
    {
        var le = (high << 8) | low;
        return le == 0 ? MaxExtendedData : le;
    }
}
