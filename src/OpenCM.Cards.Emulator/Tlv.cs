namespace OpenCM.Cards.Emulator;

/// <summary>One BER-TLV element (ISO/IEC 7816-4 §5.2): its tag as an integer (one to three bytes), its value, and where the whole element ends.</summary>
internal readonly record struct Tlv(int Tag, int ValueOffset, int ValueLength, int End);

/// <summary>
/// The few BER-TLV reads the card needs, total over hostile input: every read says whether the
/// bytes hold a whole element, and nothing reads past the span.
/// </summary>
internal static class Tlvs
{
    /// <summary>Reads the element at <paramref name="offset"/>; false when the bytes there are not one whole element.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, int offset, out Tlv tlv)
    {
        tlv = default;
        if (offset < 0 || offset >= data.Length)
        {
            return false;
        }

        var p = offset;
        int tag = data[p++];
        if ((tag & 0x1F) == 0x1F)
        {
            // Subsequent tag bytes while b8 is set; at most two more (tags up to three bytes).
            for (var i = 0; ; i++)
            {
                if (p >= data.Length || i == 2)
                {
                    return false;
                }

                var b = data[p++];
                tag = (tag << 8) | b;
                if ((b & 0x80) == 0)
                {
                    break;
                }
            }
        }

        if (p >= data.Length)
        {
            return false;
        }

        int length = data[p++];
        if (length > 0x80)
        {
            var count = length & 0x7F;
            if (count > 3 || p + count > data.Length)
            {
                return false;
            }

            length = 0;
            for (var i = 0; i < count; i++)
            {
                length = (length << 8) | data[p++];
            }
        }
        else if (length == 0x80)
        {
            return false; // indefinite length: not in a card's command
        }

        if (length > data.Length - p)
        {
            return false;
        }

        tlv = new Tlv(tag, p, length, p + length);
        return true;
    }

    /// <summary>Whether <paramref name="data"/> is exactly one element with tag <paramref name="tag"/>; its value when so.</summary>
    public static bool TryReadOnly(ReadOnlySpan<byte> data, int tag, out Tlv tlv) =>
        TryRead(data, 0, out tlv) && tlv.Tag == tag && tlv.End == data.Length;

    /// <summary>The children of a constructed value, in order; false when they do not tile it exactly.</summary>
    public static bool TryChildren(ReadOnlySpan<byte> data, int offset, int length, out List<Tlv> children)
    {
        children = [];
        var end = offset + length;
        var p = offset;
        while (p < end)
        {
            if (!TryRead(data[..end], p, out var child))
            {
                return false;
            }

            children.Add(child);
            p = child.End;
        }

        return true;
    }

    /// <summary>The first child with <paramref name="tag"/>, or null.</summary>
    public static Tlv? Find(List<Tlv> children, int tag)
    {
        foreach (var c in children)
        {
            if (c.Tag == tag)
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>Encodes a tag (one to three bytes, as given), a definite length and the value.</summary>
    public static byte[] Encode(int tag, ReadOnlySpan<byte> value)
    {
        var tagBytes = tag > 0xFFFF ? 3 : tag > 0xFF ? 2 : 1;
        var lengthBytes = value.Length < 0x80 ? 1 : value.Length <= 0xFF ? 2 : value.Length <= 0xFFFF ? 3 : 4;
        var result = new byte[tagBytes + lengthBytes + value.Length];
        var p = 0;
        for (var i = tagBytes - 1; i >= 0; i--)
        {
            result[p++] = (byte)(tag >> (8 * i));
        }

        if (lengthBytes == 1)
        {
            result[p++] = (byte)value.Length;
        }
        else
        {
            result[p++] = (byte)(0x80 | (lengthBytes - 1));
            for (var i = lengthBytes - 2; i >= 0; i--)
            {
                result[p++] = (byte)(value.Length >> (8 * i));
            }
        }

        value.CopyTo(result.AsSpan(p));
        return result;
    }
}
