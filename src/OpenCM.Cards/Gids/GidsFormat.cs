using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace OpenCM.Cards.Gids;

/// <summary>
/// The byte layouts of a GIDS card's minidriver file system, as OpenSC's card-gids.c/card-gids.h
/// read and write them and Windows' GIDS minidriver expects them (the structures are C structs
/// with x86 alignment, little-endian): the master file (a version byte, then 28-byte records
/// naming each file's data object), mscp\cmapfile (86-byte CONTAINER_MAP_RECORDs), the key map
/// (a version byte, then 12-byte records), cardcf (6 bytes of freshness counters) and the
/// certificate files (compressed as gids_encode_certificate does). Everything read here came from
/// a card and is checked before use: a layout that does not fit is <see cref="CardRefusal.Malformed"/>.
/// </summary>
internal static class GidsFormat
{
    // Data objects and the DO EFs that hold them (card-gids.h).
    public const int AppletEfid = 0x3FFF;
    public const int MasterFileFi = 0xA000;
    public const int MasterFileDo = 0xDF1F;
    public const int KeyMapFi = 0xA000;
    public const int KeyMapDo = 0xDF20;
    public const int CertificateFi = 0xA010;
    public const int FirstCertificateDo = 0xDF21;
    public const int MaxDo = 0xDFFF;
    public const int PinStatusDo = 0x7F71;
    public const int PutKeyDo = 0x70;

    public const int MasterFileRecordSize = 28;
    public const int ContainerRecordSize = 86;
    public const int KeyMapRecordSize = 12;
    public const int MaxContainers = 126;
    public const int MaxContainerNameLength = 39;
    public const int MaxFileSize = 65000;
    public const byte FirstKeyReference = 0x81;

    public const byte ValidContainer = 1;
    public const byte DefaultContainer = 2;
    public const byte KeyTypeKeyExchange = 0x9A;

    /// <summary>A master file record: the file "directory\name" lives in data object <paramref name="Do"/> of DO EF <paramref name="Fi"/>.</summary>
    public readonly record struct FileRecord(int Index, string Directory, string Name, int Do, int Fi);

    public static IReadOnlyList<FileRecord> MasterFileRecords(byte[] masterFile)
    {
        var records = new List<FileRecord>();
        var count = (masterFile.Length - 1) / MasterFileRecordSize;
        for (var i = 0; i < count; i++)
        {
            var r = masterFile.AsSpan(1 + (i * MasterFileRecordSize), MasterFileRecordSize);
            records.Add(new FileRecord(i, CString(r[..9]), CString(r[9..18]),
                BinaryPrimitives.ReadInt32LittleEndian(r[20..24]), BinaryPrimitives.ReadInt32LittleEndian(r[24..28])));
        }

        return records;
    }

    public static FileRecord? Lookup(byte[] masterFile, string directory, string name)
    {
        foreach (var r in MasterFileRecords(masterFile))
        {
            if (r.Directory == directory && r.Name == name)
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>The first certificate data object no record uses (gids_find_available_DO), or null when all are taken.</summary>
    public static int? FreeCertificateDo(byte[] masterFile)
    {
        var used = MasterFileRecords(masterFile).Where(r => r.Fi == CertificateFi).Select(r => r.Do).ToHashSet();
        for (var d = FirstCertificateDo; d < MaxDo; d++)
        {
            if (!used.Contains(d))
            {
                return d;
            }
        }

        return null;
    }

    /// <summary>The master file with a record for a new file appended after the last record (gids_create_file).</summary>
    public static byte[] AddRecord(byte[] masterFile, string directory, string name, int dataObject, int fileIdentifier)
    {
        var count = (masterFile.Length - 1) / MasterFileRecordSize;
        var offset = 1 + (count * MasterFileRecordSize);
        var result = new byte[masterFile.Length + MasterFileRecordSize];
        masterFile.AsSpan(0, offset).CopyTo(result);
        masterFile.AsSpan(offset).CopyTo(result.AsSpan(offset + MasterFileRecordSize));
        var r = result.AsSpan(offset, MasterFileRecordSize);
        Encoding.ASCII.GetBytes(directory, r[..8]);
        Encoding.ASCII.GetBytes(name, r[9..17]);
        BinaryPrimitives.WriteInt32LittleEndian(r[20..24], dataObject);
        BinaryPrimitives.WriteInt32LittleEndian(r[24..28], fileIdentifier);
        return result;
    }

    /// <summary>The master file without record <paramref name="index"/> (gids_delete_cert).</summary>
    public static byte[] RemoveRecord(byte[] masterFile, int index)
    {
        var offset = 1 + (index * MasterFileRecordSize);
        return [.. masterFile.AsSpan(0, offset), .. masterFile.AsSpan(offset + MasterFileRecordSize)];
    }

    public static int ContainerCount(byte[] cmap) => cmap.Length / ContainerRecordSize;

    public static Span<byte> ContainerRecord(byte[] cmap, int index) => cmap.AsSpan(index * ContainerRecordSize, ContainerRecordSize);

    public static bool IsValid(byte[] cmap, int index) => (ContainerRecord(cmap, index)[80] & ValidContainer) != 0;

    public static int SignatureKeyBits(byte[] cmap, int index) => BinaryPrimitives.ReadUInt16LittleEndian(ContainerRecord(cmap, index)[82..84]);

    public static int KeyExchangeKeyBits(byte[] cmap, int index) => BinaryPrimitives.ReadUInt16LittleEndian(ContainerRecord(cmap, index)[84..86]);

    /// <summary>The container's name: the record's wszGuid, UTF-16 up to its NUL.</summary>
    public static string ContainerName(byte[] cmap, int index)
    {
        var guid = ContainerRecord(cmap, index)[..80];
        var chars = new char[MaxContainerNameLength + 1];
        var length = 0;
        for (; length < chars.Length; length++)
        {
            var c = (char)BinaryPrimitives.ReadUInt16LittleEndian(guid.Slice(length * 2, 2));
            if (c == '\0')
            {
                break;
            }

            chars[length] = c;
        }

        return new string(chars, 0, length);
    }

    /// <summary>The index of the valid container named <paramref name="name"/> (compared as Windows does, ignoring case), or -1.</summary>
    public static int FindContainer(byte[] cmap, string name)
    {
        for (var i = 0; i < ContainerCount(cmap); i++)
        {
            if (IsValid(cmap, i) && string.Equals(ContainerName(cmap, i), name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Writes a CONTAINER_MAP_RECORD: the name as UTF-16, the flags, the key sizes (gids_create_keyfile).</summary>
    public static void WriteContainer(Span<byte> record, string name, byte flags, int signatureBits, int keyExchangeBits)
    {
        record.Clear();
        for (var i = 0; i < name.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(record.Slice(i * 2, 2), name[i]);
        }

        record[80] = flags;
        BinaryPrimitives.WriteUInt16LittleEndian(record[82..84], (ushort)signatureBits);
        BinaryPrimitives.WriteUInt16LittleEndian(record[84..86], (ushort)keyExchangeBits);
    }

    /// <summary>Writes a key map record (struct gids_keymap_record: int state, algid, keytype, keyref, 0xFFFF, then padding).</summary>
    public static void WriteKeyMapRecord(Span<byte> record, int state, byte algorithm, byte keyType, ushort keyReference)
    {
        record.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(record[..4], state);
        record[4] = algorithm;
        record[5] = keyType;
        BinaryPrimitives.WriteUInt16LittleEndian(record[6..8], keyReference);
        BinaryPrimitives.WriteUInt16LittleEndian(record[8..10], 0xFFFF);
    }

    /// <summary>The GIDS algorithm identifier of an RSA key size (card-gids.c GIDS_RSA_*_IDENTIFIER), or 0 for none.</summary>
    public static byte RsaAlgorithm(int bits) => bits switch
    {
        1024 => 0x06,
        2048 => 0x07,
        3072 => 0x08,
        4096 => 0x09,
        _ => 0,
    };

    /// <summary>
    /// A certificate as the minidriver stores it (gids_encode_certificate): 01 00 (zlib), the
    /// uncompressed length as two little-endian bytes, then the zlib stream.
    /// </summary>
    public static byte[] EncodeCertificate(byte[] der)
    {
        if (der.Length > 0xFFFF)
        {
            throw new CardException(CardRefusal.CardFull, "A certificate of more than 65535 bytes does not fit a GIDS certificate file.");
        }

        using var buffer = new MemoryStream();
        buffer.Write([0x01, 0x00, (byte)der.Length, (byte)(der.Length >> 8)]);
        using (var zlib = new ZLibStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(der);
        }

        return buffer.ToArray();
    }

    /// <summary>The certificate in a certificate file; anything but a zlib file of the length it claims is Malformed.</summary>
    public static byte[] DecodeCertificate(byte[] file)
    {
        if (file.Length < 4 || file[0] != 0x01 || file[1] != 0x00)
        {
            throw new CardException(CardRefusal.Malformed, "A certificate file on the card is not in the minidriver's compressed format.");
        }

        var length = file[2] | (file[3] << 8);
        var der = new byte[length];
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(file, 4, file.Length - 4), CompressionMode.Decompress);
            var read = 0;
            while (read < length)
            {
                var n = zlib.Read(der, read, length - read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            // Exactly the length it claims: no more (a decompression bomb stops here), no less.
            if (read != length || zlib.Read(new byte[1], 0, 1) != 0)
            {
                throw new CardException(CardRefusal.Malformed, "A certificate file on the card does not hold as many bytes as it says.");
            }
        }
        catch (InvalidDataException e)
        {
            throw new CardException(CardRefusal.Malformed, "A certificate file on the card is not a zlib stream.", e);
        }

        return der;
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]);
    }
}
