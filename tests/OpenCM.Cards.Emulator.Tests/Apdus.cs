using System.Security.Cryptography;

namespace OpenCM.Cards.Emulator.Tests;

/// <summary>The host side of the GIDS commands the tests send in process, as OpenSC's card-gids.c sends them.</summary>
internal static class Apdus
{
    public static readonly byte[] SiteKey = Convert.FromHexString("0102030405060708090A0B0C0D0E0F101112131415161718");

    public static (byte[] Data, ushort Sw) Send(IApduProcessor card, string hex) => Send(card, Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)));

    public static (byte[] Data, ushort Sw) Send(IApduProcessor card, byte[] command)
    {
        var answer = card.Process(command);
        Assert.True(answer.Length >= 2, "an answer always ends in a status word");
        var data = answer[..^2].ToList();
        var sw = (ushort)((answer[^2] << 8) | answer[^1]);
        while (sw >> 8 == 0x61)
        {
            answer = card.Process([0x00, 0xC0, 0x00, 0x00, (byte)sw]);
            data.AddRange(answer[..^2]);
            sw = (ushort)((answer[^2] << 8) | answer[^1]);
        }

        return ([.. data], sw);
    }

    public static byte[] Command(byte ins, byte p1, byte p2, ReadOnlySpan<byte> data, bool le = false)
    {
        byte[] head = [0x00, ins, p1, p2];
        if (data.IsEmpty)
        {
            return le ? [.. head, 0x00] : head;
        }

        return le ? [.. head, (byte)data.Length, .. data, 0x00] : [.. head, (byte)data.Length, .. data];
    }

    public static void Ok(IApduProcessor card, string hex) => Assert.Equal(0x9000, Send(card, hex).Sw);

    public static void Select(IApduProcessor card) => Ok(card, "00A4040009A00000039742544659");

    /// <summary>A site's blank card with <see cref="SiteKey"/>, selected.</summary>
    public static GidsApplet SiteBlank()
    {
        var card = GidsApplet.CreateInitialized(SiteKey, RandomNumberGenerator.GetBytes(16));
        Select(card);
        return card;
    }

    /// <summary>gids_authenticate_admin: MSE SET, GENERAL AUTHENTICATE with R1, then with E(R2||R1||Z1); the card's answer checked.</summary>
    public static ushort AuthenticateAdmin(IApduProcessor card, byte[] key)
    {
        Ok(card, "0022C1A403830180");
        var r1 = RandomNumberGenerator.GetBytes(16);
        var (challenge, sw) = Send(card, Command(0x87, 0, 0, [0x7C, 0x12, 0x81, 0x10, .. r1], le: true));
        Assert.Equal(0x9000, sw);
        Assert.Equal(20, challenge.Length);
        Assert.Equal([0x7C, 0x12, 0x81, 0x10], challenge[..4]);
        var r2 = challenge[4..];
        byte[] z1 = [.. RandomNumberGenerator.GetBytes(7), 0x80];
        var c = AdminCipher.Encrypt(key, [.. r2, .. r1, .. z1]);
        var (answer, sw2) = Send(card, Command(0x87, 0, 0, [0x7C, 0x2A, 0x82, 0x28, .. c], le: true));
        if (sw2 == 0x9000)
        {
            Assert.Equal(44, answer.Length);
            var plain = AdminCipher.Decrypt(key, answer.AsSpan(4));
            Assert.Equal(r1, plain[..16]);
            Assert.Equal(r2, plain[16..32]);
            Assert.Equal(0x80, plain[39]);
        }

        return sw2;
    }

    /// <summary>Sets the PIN of a site's blank card as personalization does: the admin key, then RESET RETRY COUNTER.</summary>
    public static void SetPinWithAdmin(IApduProcessor card, string pin, byte[]? key = null)
    {
        Assert.Equal(0x9000, AuthenticateAdmin(card, key ?? SiteKey));
        Assert.Equal(0x9000, Send(card, Command(0x2C, 0x02, 0x80, System.Text.Encoding.ASCII.GetBytes(pin))).Sw);
    }

    public static ushort VerifyPin(IApduProcessor card, string pin) => Send(card, Command(0x20, 0x00, 0x80, System.Text.Encoding.ASCII.GetBytes(pin))).Sw;

    /// <summary>gids_perform_create_keyfile's key exchange FCP for key <paramref name="kid"/>, then ACTIVATE FILE.</summary>
    public static void CreateKeyFile(IApduProcessor card, byte kid, byte algorithm = 0x07)
    {
        byte[] fcp =
        [
            0x62, 0x47, 0x82, 0x01, 0x18, 0x83, 0x02, 0xB0, kid, 0x8C, 0x05, 0x8F, 0x10, 0x10, 0x10, 0x00,
            0xA5, 0x37,
            0xB8, 0x09, 0x80, 0x01, algorithm, 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB8, 0x09, 0x80, 0x01, (byte)(0x80 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB8, 0x09, 0x80, 0x01, (byte)(0x40 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB6, 0x09, 0x80, 0x01, (byte)(0x10 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB6, 0x09, 0x80, 0x01, (byte)(0x50 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
        ];
        Assert.Equal(0x9000, Send(card, Command(0xE0, 0, 0, fcp)).Sw);
        Ok(card, "00440000");
    }

    public static void Generate(IApduProcessor card, byte kid, byte algorithm = 0x07) =>
        Assert.Equal(0x9000, Send(card, Command(0x47, 0, 0, [0xAC, 0x06, 0x80, 0x01, algorithm, 0x83, 0x01, kid])).Sw);

    public static (byte[] Data, ushort Sw) ReadPublicKey(IApduProcessor card, byte kid) =>
        Send(card, Command(0xCB, 0x3F, 0xFF, [0x70, 0x08, 0x84, 0x01, kid, 0xA5, 0x03, 0x7F, 0x49, 0x80], le: true));

    public static RSA PublicRsa(byte[] template)
    {
        // 7F49 82 LLLL { 81 82 0100 n, 82 03 e }
        Assert.Equal(0x7F, template[0]);
        Assert.Equal(0x49, template[1]);
        var p = template[2] == 0x82 ? 5 : template[2] == 0x81 ? 4 : 3;
        Assert.Equal(0x81, template[p]);
        var (n, after) = Read(template, p + 1);
        Assert.Equal(0x82, template[after]);
        var (e, _) = Read(template, after + 1);
        var rsa = RSA.Create();
        rsa.ImportParameters(new RSAParameters { Modulus = n, Exponent = e });
        return rsa;
    }

    public static (byte[] Data, ushort Sw) Sign(IApduProcessor card, byte kid, byte[] digestInfo)
    {
        var mse = Send(card, Command(0x22, 0x41, 0xB6, [0x80, 0x01, 0x57, 0x84, 0x01, kid]));
        Assert.Equal(0x9000, mse.Sw);
        return Send(card, Command(0x2A, 0x9E, 0x9A, digestInfo, le: true));
    }

    public static byte[] Sha256DigestInfo(byte[] message) =>
        [.. Convert.FromHexString("3031300d060960864801650304020105000420"), .. SHA256.HashData(message)];

    private static (byte[] Value, int End) Read(byte[] data, int lengthAt)
    {
        int length = data[lengthAt];
        var start = lengthAt + 1;
        if (length == 0x81)
        {
            length = data[lengthAt + 1];
            start++;
        }
        else if (length == 0x82)
        {
            length = (data[lengthAt + 1] << 8) | data[lengthAt + 2];
            start += 2;
        }

        return (data[start..(start + length)], start + length);
    }
}
