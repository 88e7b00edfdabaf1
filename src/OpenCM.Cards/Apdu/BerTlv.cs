namespace OpenCM.Cards.Apdu;

/// <summary>
/// BER-TLV as cards use it (ISO/IEC 7816-4 §5.2): tags of one to three bytes, lengths in short
/// form or 81/82/83 long form. What a card sends is hostile input: every read is bounds-checked,
/// and a tag or length that does not fit is <see cref="CardRefusal.Malformed"/>, never an
/// <see cref="IndexOutOfRangeException"/>.
/// </summary>
public static class BerTlv
{
    /// <summary>One element: its tag and where its value lies in the buffer it was read from.</summary>
    public readonly record struct Element(int Tag, int ValueOffset, int ValueLength);

    /// <summary>The top-level elements of <paramref name="data"/>, in order; any that runs past the end is Malformed.</summary>
    public static IReadOnlyList<Element> Parse(ReadOnlySpan<byte> data)
    {
        var elements = new List<Element>();
        var offset = 0;
        while (offset < data.Length)
        {
            // 00 and FF between elements are padding (ISO 7816-4 §5.2.2.1).
            if (data[offset] is 0x00 or 0xFF)
            {
                offset++;
                continue;
            }

            var tag = (int)data[offset++];
            if ((tag & 0x1F) == 0x1F)
            {
                var more = 0;
                do
                {
                    if (offset >= data.Length || ++more > 2)
                    {
                        throw Malformed("a tag runs past the end of the answer");
                    }

                    tag = (tag << 8) | data[offset];
                }
                while ((data[offset++] & 0x80) != 0);
            }

            if (offset >= data.Length)
            {
                throw Malformed("a tag has no length");
            }

            int length = data[offset++];
            if (length > 0x80)
            {
                var count = length - 0x80;
                if (count > 3 || offset + count > data.Length)
                {
                    throw Malformed("a length runs past the end of the answer");
                }

                length = 0;
                for (var i = 0; i < count; i++)
                {
                    length = (length << 8) | data[offset++];
                }
            }
            else if (length == 0x80)
            {
                throw Malformed("an indefinite length");
            }

            if (length > data.Length - offset)
            {
                throw Malformed($"an element of {length} bytes in an answer of {data.Length}");
            }

            elements.Add(new Element(tag, offset, length));
            offset += length;
        }

        return elements;
    }

    /// <summary>The value of the first top-level element tagged <paramref name="tag"/>, or null when there is none (as OpenSC's sc_asn1_find_tag).</summary>
    public static byte[]? Find(ReadOnlySpan<byte> data, int tag)
    {
        foreach (var e in Parse(data))
        {
            if (e.Tag == tag)
            {
                return data.Slice(e.ValueOffset, e.ValueLength).ToArray();
            }
        }

        return null;
    }

    /// <summary>As <see cref="Find"/>, but a missing element is Malformed: the card left out what its answer must hold.</summary>
    public static byte[] Require(ReadOnlySpan<byte> data, int tag, string what) =>
        Find(data, tag) ?? throw Malformed($"{what}: no element tagged {tag:X2}");

    /// <summary>One element: the tag's bytes, the length (short or 81/82 form), the value.</summary>
    public static byte[] Encode(int tag, ReadOnlySpan<byte> value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tag);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tag, 0xFFFFFF);
        if (value.Length > 0xFFFF)
        {
            throw new ArgumentException("A value of at most 65535 bytes.", nameof(value));
        }

        var result = new List<byte>(value.Length + 6);
        if (tag > 0xFFFF)
        {
            result.Add((byte)(tag >> 16));
        }

        if (tag > 0xFF)
        {
            result.Add((byte)(tag >> 8));
        }

        result.Add((byte)tag);
        if (value.Length < 0x80)
        {
            result.Add((byte)value.Length);
        }
        else if (value.Length <= 0xFF)
        {
            result.Add(0x81);
            result.Add((byte)value.Length);
        }
        else
        {
            result.Add(0x82);
            result.Add((byte)(value.Length >> 8));
            result.Add((byte)value.Length);
        }

        result.AddRange(value.ToArray());
        return [.. result];
    }

    private static CardException Malformed(string what) => new(CardRefusal.Malformed, $"The card's answer is not well-formed BER-TLV: {what}.");
}
