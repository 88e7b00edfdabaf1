using System.Security.Cryptography;
using System.Text;
using OpenCM.Cards;
using OpenCM.Cards.Apdu;

namespace OpenCM.Cards.Tests.Fakes;

/// <summary>
/// A small hand-written GIDS card for the driver's tests, initialized as <c>gids-tool --initialize</c>
/// leaves a card (OpenSC's gids_initialize: master file, cardid, cardapps, cardcf, an empty
/// cmapfile, PIN 80, admin key). It answers only what the driver sends, as the GIDS specification
/// and OpenSC's driver describe it; it is the driver's own reading of GIDS, so the independent checks
/// stay the project's GIDS emulator and OpenSC itself. Answers longer than 256 bytes come in 61xx pieces.
/// </summary>
internal sealed class FakeGidsCard : IApduProcessor
{
    public const int PinLimit = 3;

    private static readonly byte[] InitialMasterFile = Convert.FromHexString(
        "016D736370000000000000000000000000000000000000000000A00000000000000000000000636172646964000000000020DF000012A00000000000000000000000636172646170707300000021DF000010A00000000000000000000000636172646366000000000022DF000010A000006D7363700000000000636D617066696C6500000023DF000010A00000");

    private readonly Dictionary<(int Fi, int Do), byte[]> _objects = [];
    private readonly Dictionary<byte, RSA> _keys = [];
    private readonly HashSet<byte> _keyFiles = [];
    private readonly List<byte> _chain = [];
    private byte[] _pending = [];
    private byte[] _pin;
    private byte[]? _r1;
    private byte[]? _r2;
    private byte _selectedKeyFile;
    private byte _signingKey;
    private byte _signingAlgorithm;
    private bool _pinVerified;
    private bool _admin;

    public FakeGidsCard(byte[] adminKey, string pin, byte[] cardId)
    {
        AdminKey = adminKey;
        _pin = Encoding.ASCII.GetBytes(pin);
        _objects[(0xA000, 0xDF1F)] = InitialMasterFile;
        _objects[(0xA012, 0xDF20)] = cardId;
        _objects[(0xA010, 0xDF21)] = Convert.FromHexString("6D73637000000000");
        _objects[(0xA010, 0xDF22)] = new byte[6];
        _objects[(0xA010, 0xDF23)] = [];
    }

    public byte[] AdminKey { get; private set; }

    public int TriesLeft { get; private set; } = PinLimit;

    public byte[] Atr => Convert.FromHexString("3B8D0180FBA000000397425446590301C8");

    public IReadOnlyDictionary<(int Fi, int Do), byte[]> Objects => _objects;

    public int KeyCount => _keys.Count;

    public byte[] Object(int fi, int dataObject) => _objects[(fi, dataObject)];

    public void Reset()
    {
        _pinVerified = false;
        _admin = false;
        _r1 = _r2 = null;
        _chain.Clear();
    }

    public byte[] Process(ReadOnlySpan<byte> command)
    {
        if (command.Length < 4)
        {
            return Sw(0x6700);
        }

        var cla = command[0];
        var ins = command[1];
        var p1 = command[2];
        var p2 = command[3];
        var data = command.Length > 5 ? command.Slice(5, command[4]).ToArray() : [];
        if (ins != 0xDB && ins != 0xC0)
        {
            _chain.Clear();
        }

        return (ins, p1, p2) switch
        {
            (0xA4, 0x04, _) => Select(data),
            (0xA4, 0x00, 0x0C) => SelectKeyFile(data),
            (0xC0, _, _) => Answer(_pending),
            (0xCB, _, _) => GetData((p1 << 8) | p2, data),
            (0xDB, _, _) => PutData(cla, (p1 << 8) | p2, data),
            (0x22, 0xC1, 0xA4) => Sw(0x9000),
            (0x22, 0x41, 0xB6) => SetSigning(data),
            (0x87, 0x00, 0x00) => GeneralAuthenticate(data),
            (0x20, 0x00, 0x82) => Logout(),
            (0x20, 0x00, 0x80) => Verify(data),
            (0x2C, 0x02, 0x80) => _admin ? SetPin(data) : Sw(0x6982),
            (0xE0, 0x00, 0x00) => _pinVerified ? CreateKeyFile(data) : Sw(0x6982),
            (0x44, 0x00, 0x00) => Sw(0x9000),
            (0x47, 0x00, 0x00) => _pinVerified ? Generate(data) : Sw(0x6982),
            (0x2A, 0x9E, 0x9A) => _pinVerified ? SignDigestInfo(data) : Sw(0x6982),
            (0xE4, 0x00, 0x00) => _pinVerified ? DeleteKeyFile() : Sw(0x6982),
            _ => Sw(0x6D00),
        };
    }

    private static byte[] Sw(ushort sw) => [(byte)(sw >> 8), (byte)sw];

    private static byte[] Ok(byte[] data) => [.. data, 0x90, 0x00];

    // Answers above 256 bytes in pieces: 256 bytes and 61xx, the rest through GET RESPONSE.
    private byte[] Answer(byte[] data)
    {
        if (data.Length <= 256)
        {
            _pending = [];
            return Ok(data);
        }

        _pending = data[256..];
        return [.. data[..256], 0x61, (byte)Math.Min(_pending.Length, 0xFF)];
    }

    private byte[] Select(byte[] aid)
    {
        Reset();
        return aid.AsSpan().StartsWith(Convert.FromHexString("A00000039742544659")) ? Ok([]) : Sw(0x6A82);
    }

    private byte[] SelectKeyFile(byte[] fileId)
    {
        if (fileId.Length != 2 || fileId[0] != 0xB0 || !_keyFiles.Contains(fileId[1]))
        {
            return Sw(0x6A82);
        }

        _selectedKeyFile = fileId[1];
        return Sw(0x9000);
    }

    private byte[] GetData(int fi, byte[] data)
    {
        if (fi == 0x3FFF && data.Length == 10 && data[0] == 0x70)
        {
            if (!_keys.TryGetValue(data[4], out var key))
            {
                return Sw(0x6A88);
            }

            var p = key.ExportParameters(false);
            return Answer(BerTlv.Encode(0x7F49, [.. BerTlv.Encode(0x81, p.Modulus), .. BerTlv.Encode(0x82, p.Exponent)]));
        }

        var dataObject = (data[2] << 8) | data[3];
        if (fi == 0x3FFF && dataObject == 0x7F71)
        {
            return Ok(BerTlv.Encode(0x7F71, [0x97, 0x01, (byte)TriesLeft, 0x93, 0x01, PinLimit]));
        }

        return _objects.TryGetValue((fi, dataObject), out var value) ? Answer(BerTlv.Encode(dataObject, value)) : Sw(0x6A88);
    }

    private byte[] PutData(byte cla, int fi, byte[] data)
    {
        _chain.AddRange(data);
        if ((cla & 0x10) != 0)
        {
            return Sw(0x9000);
        }

        var whole = _chain.ToArray();
        _chain.Clear();
        var element = BerTlv.Parse(whole).Single();
        var value = whole.AsSpan(element.ValueOffset, element.ValueLength).ToArray();
        if (fi == 0x3FFF && element.Tag == 0x70)
        {
            if (!_admin)
            {
                return Sw(0x6982);
            }

            AdminKey = BerTlv.Require(BerTlv.Require(value, 0xA5, "key template"), 0x87, "key");
            return Sw(0x9000);
        }

        if (!_pinVerified && !(_admin && fi == 0xA012))
        {
            return Sw(0x6982);
        }

        if (value.Length == 0 && fi == 0xA010 && element.Tag != 0xDF23)
        {
            _objects.Remove((fi, element.Tag));
        }
        else
        {
            _objects[(fi, element.Tag)] = value;
        }

        return Sw(0x9000);
    }

    private byte[] SetSigning(byte[] data)
    {
        _signingAlgorithm = BerTlv.Require(data, 0x80, "algorithm")[0];
        _signingKey = BerTlv.Require(data, 0x84, "key")[0];
        return _keys.ContainsKey(_signingKey) ? Sw(0x9000) : Sw(0x6A88);
    }

    private byte[] GeneralAuthenticate(byte[] data)
    {
        var template = BerTlv.Require(data, 0x7C, "template");
        if (BerTlv.Find(template, 0x81) is { Length: 16 } r1)
        {
            _r1 = r1;
            _r2 = RandomNumberGenerator.GetBytes(16);
            return Ok([0x7C, 0x12, 0x81, 0x10, .. _r2]);
        }

        if (BerTlv.Find(template, 0x82) is { Length: 40 } cryptogram && _r1 is not null && _r2 is not null)
        {
            var plain = TripleDesCbc.Decrypt(AdminKey, cryptogram);
            var expected = (byte[])[.. _r2, .. _r1];
            var r1Sent = _r1;
            var r2Sent = _r2;
            _r1 = _r2 = null;
            if (!plain.AsSpan(0, 32).SequenceEqual(expected) || plain[39] != 0x80)
            {
                return Sw(0x6982);
            }

            _admin = true;
            var z2 = RandomNumberGenerator.GetBytes(8);
            z2[7] = 0x80;
            return Ok([0x7C, 0x2A, 0x82, 0x28, .. TripleDesCbc.Encrypt(AdminKey, [.. r1Sent, .. r2Sent, .. z2])]);
        }

        return Sw(0x6A80);
    }

    private byte[] Logout()
    {
        _pinVerified = false;
        _admin = false;
        return Sw(0x9000);
    }

    private byte[] Verify(byte[] pin)
    {
        if (TriesLeft == 0)
        {
            return Sw(0x6983);
        }

        if (!CryptographicOperations.FixedTimeEquals(pin, _pin))
        {
            TriesLeft--;
            _pinVerified = false;
            return Sw((ushort)(0x63C0 | TriesLeft));
        }

        TriesLeft = PinLimit;
        _pinVerified = true;
        return Sw(0x9000);
    }

    private byte[] SetPin(byte[] pin)
    {
        _pin = pin;
        TriesLeft = PinLimit;
        return Sw(0x9000);
    }

    private byte[] CreateKeyFile(byte[] data)
    {
        var fcp = BerTlv.Require(data, 0x62, "FCP");
        var id = BerTlv.Require(fcp, 0x83, "file id");
        if (id.Length != 2 || id[0] != 0xB0 || !_keyFiles.Add(id[1]))
        {
            return Sw(0x6A89);
        }

        return Sw(0x9000);
    }

    private byte[] Generate(byte[] data)
    {
        var crt = BerTlv.Require(data, 0xAC, "CRT");
        var algorithm = BerTlv.Require(crt, 0x80, "algorithm")[0];
        var kid = BerTlv.Require(crt, 0x83, "key")[0];
        if (!_keyFiles.Contains(kid))
        {
            return Sw(0x6A88);
        }

        int bits = algorithm switch { 0x06 => 1024, 0x07 => 2048, 0x08 => 3072, 0x09 => 4096, _ => 0 };
        if (bits == 0)
        {
            return Sw(0x6A80);
        }

        _keys.Remove(kid, out var old);
        old?.Dispose();
        _keys[kid] = RSA.Create(bits);
        return Sw(0x9000);
    }

    private byte[] SignDigestInfo(byte[] digestInfo)
    {
        if (_signingAlgorithm < 0x56 || !_keys.TryGetValue(_signingKey, out var key))
        {
            return Sw(0x6985);
        }

        var (name, length) = digestInfo.Length switch
        {
            51 => (HashAlgorithmName.SHA256, 32),
            67 => (HashAlgorithmName.SHA384, 48),
            83 => (HashAlgorithmName.SHA512, 64),
            _ => (default(HashAlgorithmName), 0),
        };
        return length == 0 ? Sw(0x6A80) : Answer(key.SignHash(digestInfo[^length..], name, RSASignaturePadding.Pkcs1));
    }

    private byte[] DeleteKeyFile()
    {
        if (!_keyFiles.Remove(_selectedKeyFile))
        {
            return Sw(0x6A82);
        }

        if (_keys.Remove(_selectedKeyFile, out var key))
        {
            key.Dispose();
        }

        return Sw(0x9000);
    }
}
