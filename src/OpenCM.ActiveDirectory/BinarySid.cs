using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using OpenCM.Security.Sddl;

namespace OpenCM.ActiveDirectory;

/// <summary>
/// SIDs as Active Directory stores them (<c>objectSid</c>, <c>tokenGroups</c>; MS-DTYP §2.4.2.2):
/// a revision byte, the count of sub-authorities, a 48-bit big-endian identifier authority, then
/// each sub-authority as 32 bits little-endian.
/// </summary>
public static class BinarySid
{
    public static bool TryRead(ReadOnlySpan<byte> bytes, out Sid sid)
    {
        sid = default;
        if (bytes.Length < 8 || bytes[0] != 1 || bytes.Length != 8 + (4 * bytes[1]) || bytes[1] > 15)
        {
            return false;
        }

        ulong authority = 0;
        foreach (var b in bytes.Slice(2, 6))
        {
            authority = (authority << 8) | b;
        }

        var text = new StringBuilder("S-1-").Append(authority.ToString(CultureInfo.InvariantCulture));
        for (var i = 0; i < bytes[1]; i++)
        {
            text.Append('-').Append(BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(8 + (4 * i), 4)).ToString(CultureInfo.InvariantCulture));
        }

        return Sid.TryParse(text.ToString(), out sid);
    }

    public static byte[] Write(Sid sid)
    {
        var parts = sid.Value.Split('-');
        var subs = parts.Skip(3).Select(p => uint.Parse(p, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
        var authority = ulong.Parse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture);
        var bytes = new byte[8 + (4 * subs.Length)];
        bytes[0] = 1;
        bytes[1] = (byte)subs.Length;
        for (var i = 0; i < 6; i++)
        {
            bytes[7 - i] = (byte)(authority >> (8 * i));
        }

        for (var i = 0; i < subs.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8 + (4 * i)), subs[i]);
        }

        return bytes;
    }
}
