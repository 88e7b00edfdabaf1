using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;

namespace OpenCM.Cards.Emulator;

/// <summary>
/// A software GIDS card (Microsoft's Generic Identity Device Specification, the card application
/// of issue #22.4), for tests and trials: what OpenSC's GIDS driver (card-gids.c, gids-tool,
/// pkcs15-gids.c) and OpenCM's own GIDS driver send, answered as a GIDS card answers it. OpenSC is
/// the independent check that this card is a GIDS card and not just what OpenCM's driver
/// expects. Its keys are real keys made with .NET's crypto on "the card" and never leave it in
/// an answer; <see cref="ExportState"/> gives them only to <see cref="GidsStateFile"/>, which
/// keeps them encrypted. It is a test card, not a security device: its memory is this process's.
/// <para>
/// The model: one application (AID A0 00 00 03 97 42 54 46 59 02 01) whose files are BER-TLV data
/// object files (A0xx; GET/PUT DATA by file and tag) and key files (B0xx; B080 holds the admin
/// key, B081… the private keys). A new card is in its initialization state, where no access rule
/// applies; SELECT 3FFF then ACTIVATE FILE ends it (gids_initialize's last step). From then on a
/// data object file's PUT/GET conditions come from its FCP (8C, compact: 0x00 always, 0xFF never,
/// 0x10 the user PIN, 0x20 the admin key, 0x30 either), the private keys need the PIN, creating
/// and deleting files need the PIN or the admin key, and unblocking the PIN and changing the admin
/// key need the admin key, authenticated by decision 0013's mutual authentication. Reset and a
/// reselect of the application forget both authentications.
/// </para>
/// </summary>
public sealed class GidsApplet : IApduProcessor
{
    /// <summary>The card's answer-to-reset: T=1, no historical bytes (as OpenSC's CI gives its Java Card GIDS applet).</summary>
    public static readonly byte[] DefaultAtr = [0x3B, 0x80, 0x80, 0x01, 0x01];

    /// <summary>The GIDS application's AID, version 2 (OpenSC's gids_aids); a SELECT may name its first nine bytes.</summary>
    public static readonly byte[] Aid = [0xA0, 0x00, 0x00, 0x03, 0x97, 0x42, 0x54, 0x46, 0x59, 0x02, 0x01];

    public const int PinTryLimit = 3;
    public const int PinMinLength = 4;
    public const int PinMaxLength = 16;

    /// <summary>The largest data object (OpenSC's MAX_GIDS_FILE_SIZE) and all data objects together (a card's memory).</summary>
    public const int MaxObjectLength = 65000;

    public const int MemoryBytes = 128 * 1024;

    private const int ApplicationId = 0x3FFF;
    private const int AdminKeyFile = 0xB080;
    private const int MaxFiles = 160;
    private const int MaxObjectsPerFile = 64;
    private const int MaxCommandLength = 70_000;
    private const byte TypeDataObjects = 0x39, TypeKey = 0x18;
    private const byte RsaPkcs1Sign = 0x50, RsaSha = 0x10, RsaPkcs1Decrypt = 0x40, RsaOaep = 0x80;

    // The FCI a SELECT of the application answers: the AID (4F) and the cryptographic mechanisms (73).
    private static readonly byte[] Fci = [0x61, 0x12, 0x4F, 0x0B, .. Aid, 0x73, 0x03, 0x40, 0x01, 0xC0];

    // The application's own FCP: a DF (38) on whose children the user or the admin may create and delete (30 30).
    private static readonly byte[] ApplicationFcp = [0x62, 0x08, 0x82, 0x01, 0x38, 0x8C, 0x03, 0x03, 0x30, 0x30];

    private readonly Lock _gate = new();
    private readonly Dictionary<int, GidsFileState> _files = [];
    private bool _operational;
    private byte[]? _pin;
    private int _pinTriesLeft;
    private byte[]? _adminKey;

    // Session state: what a reset or a reselect forgets.
    private bool _selected;
    private int? _current;
    private bool _pinVerified;
    private bool _adminAuthenticated;
    private bool _authKeySelected;
    private byte[]? _hostChallenge, _cardChallenge, _externalChallenge;
    private (bool Sign, byte Algorithm, int KeyFile)? _environment;
    private (byte Ins, byte P1, byte P2, MemoryStream Data)? _chain;
    private (byte[] Data, ushort Sw)? _pending;
    private bool _changed;

    private GidsApplet()
    {
    }

    public byte[] Atr => (byte[])DefaultAtr.Clone();

    /// <summary>A card as it leaves the factory: the GIDS application present, nothing on it, in its initialization state (gids-tool -X or OpenCM's client initializes it).</summary>
    public static GidsApplet CreateBlank() => new();

    /// <summary>
    /// A MIM CM site's blank card: initialized as gids_initialize does (file system, card id,
    /// cardapps, cardcf, an empty cmapfile), the admin key <paramref name="adminKey"/> (the
    /// profile policy's default admin key), activated, and no user PIN yet: the PIN reads as
    /// blocked until the admin-authenticated unblock of personalization sets it.
    /// </summary>
    public static GidsApplet CreateInitialized(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> cardId)
    {
        if (!AdminCipher.IsUsable(adminKey))
        {
            throw new ArgumentException("An admin key is 24 bytes, none of whose thirds is a weak DES key.", nameof(adminKey));
        }

        if (cardId.Length != 16)
        {
            throw new ArgumentException("A GIDS card id is 16 bytes.", nameof(cardId));
        }

        var card = new GidsApplet();
        foreach (var step in InitializationScript(adminKey, cardId))
        {
            var answer = card.Process(step);
            if (answer[^2] != 0x90 || answer[^1] != 0x00)
            {
                throw new InvalidOperationException($"The card refused its own initialization step {Convert.ToHexString(step.AsSpan(0, 4))}: {Convert.ToHexString(answer.AsSpan(answer.Length - 2))}.");
            }
        }

        card.Reset();
        return card;
    }

    /// <summary>A card as <paramref name="state"/> left it (freshly reset).</summary>
    public static GidsApplet FromState(GidsCardState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Version != 1)
        {
            throw new InvalidDataException($"A GIDS card state of version {state.Version} is not one this emulator reads.");
        }

        var card = new GidsApplet
        {
            _operational = state.Operational,
            _pin = state.Pin?.ToArray(),
            _pinTriesLeft = Math.Clamp(state.PinTriesLeft, 0, PinTryLimit),
            _adminKey = state.AdminKey?.ToArray(),
        };
        foreach (var f in state.Files)
        {
            card._files[f.Id] = Copy(f);
        }

        return card;
    }

    /// <summary>The card's persistent state (secrets included), for <see cref="GidsStateFile"/>.</summary>
    public GidsCardState ExportState()
    {
        lock (_gate)
        {
            return new GidsCardState
            {
                Operational = _operational,
                Pin = _pin?.ToArray(),
                PinTriesLeft = _pinTriesLeft,
                AdminKey = _adminKey?.ToArray(),
                Files = [.. _files.Values.OrderBy(f => f.Id).Select(Copy)],
            };
        }
    }

    /// <summary>Whether a command changed what <see cref="ExportState"/> returns since the last call (then false until the next change).</summary>
    public bool TakeChanges()
    {
        lock (_gate)
        {
            var changed = _changed;
            _changed = false;
            return changed;
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            Deauthenticate();
            _selected = false;
            _current = null;
            _chain = null;
            _pending = null;
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031:Do not catch general exception types",
        Justification = "A card answers every command with a status word; nothing a reader sends may take the emulator down.")]
    public byte[] Process(ReadOnlySpan<byte> command)
    {
        lock (_gate)
        {
            try
            {
                return ProcessCore(command);
            }
            catch (Exception)
            {
                _chain = null;
                _pending = null;
                return Sw(0x6F00);
            }
        }
    }

    private byte[] ProcessCore(ReadOnlySpan<byte> raw)
    {
        var apdu = CommandApdu.Parse(raw);
        if (apdu is null)
        {
            _chain = null;
            _pending = null;
            return Sw(0x6700);
        }

        if ((apdu.Cla & 0x0C) != 0)
        {
            return Sw(0x6882); // secure messaging: not supported
        }

        if ((apdu.Cla & 0xE0) != 0)
        {
            return Sw(0x6E00); // proprietary classes (other cards' probes)
        }

        if (apdu.Ins == 0xC0 && _chain is null)
        {
            return GetResponse(apdu);
        }

        _pending = null;

        if (_chain is { } chain)
        {
            if (chain.Ins != apdu.Ins || chain.P1 != apdu.P1 || chain.P2 != apdu.P2)
            {
                _chain = null;
                return Sw(0x6883); // the last command of the chain was expected
            }

            if (chain.Data.Length + apdu.Data.Length > MaxCommandLength)
            {
                _chain = null;
                return Sw(0x6700);
            }

            chain.Data.Write(apdu.Data);
            if (apdu.Chained)
            {
                return Sw(0x9000);
            }

            _chain = null;
            apdu = apdu with { Data = chain.Data.ToArray() };
        }
        else if (apdu.Chained)
        {
            var data = new MemoryStream();
            data.Write(apdu.Data);
            _chain = (apdu.Ins, apdu.P1, apdu.P2, data);
            return Sw(0x9000);
        }

        if (!_selected && apdu.Ins != 0xA4)
        {
            return Sw(0x6D00); // no application selected: nothing here knows this instruction
        }

        var (answer, sw) = apdu.Ins switch
        {
            0xA4 => Select(apdu),
            0x20 => Verify(apdu),
            0x24 => ChangeReferenceData(apdu),
            0x2C => ResetRetryCounter(apdu),
            0x22 => ManageSecurityEnvironment(apdu),
            0x87 => GeneralAuthenticate(apdu),
            0xCB => GetData(apdu),
            0xDB => PutData(apdu),
            0xE0 => CreateFile(apdu),
            0x44 => ActivateFile(apdu),
            0xE4 => DeleteFile(apdu),
            0x47 => GenerateKeyPair(apdu),
            0x2A => PerformSecurityOperation(apdu),
            _ => (null, (ushort)0x6D00),
        };
        return Respond(answer, sw, apdu);
    }

    // Short commands get at most 256 bytes back; the rest waits for GET RESPONSE (61xx, ISO 7816-4 §5.3.4).
    private byte[] Respond(byte[]? data, ushort sw, CommandApdu apdu)
    {
        data ??= [];
        var max = apdu.Extended ? Math.Min(apdu.Le == 0 ? 65536 : apdu.Le, 65000) : 256;
        if (data.Length <= max || sw != 0x9000)
        {
            return sw == 0x9000 ? [.. data, 0x90, 0x00] : Sw(sw);
        }

        _pending = (data[max..], sw);
        return [.. data.AsSpan(0, max), 0x61, MoreByte(data.Length - max)];
    }

    private byte[] GetResponse(CommandApdu apdu)
    {
        if (_pending is not { } pending)
        {
            return Sw(0x6985);
        }

        if (apdu.P1 != 0 || apdu.P2 != 0)
        {
            return Sw(0x6A86);
        }

        var n = Math.Min(apdu.Le == 0 ? 256 : apdu.Le, pending.Data.Length);
        var rest = pending.Data[n..];
        if (rest.Length == 0)
        {
            _pending = null;
            return [.. pending.Data, (byte)(pending.Sw >> 8), (byte)pending.Sw];
        }

        _pending = (rest, pending.Sw);
        return [.. pending.Data.AsSpan(0, n), 0x61, MoreByte(rest.Length)];
    }

    private static byte MoreByte(int remaining) => remaining > 255 ? (byte)0 : (byte)remaining;

    // SELECT: the application by name (P1 04) or a file of it by identifier (P1 00).
    private (byte[]?, ushort) Select(CommandApdu apdu)
    {
        var wantsNothing = (apdu.P2 & 0x0C) == 0x0C;
        if (apdu.P1 == 0x04)
        {
            if (apdu.Data.Length < 9 || apdu.Data.Length > Aid.Length || !Aid.AsSpan().StartsWith(apdu.Data))
            {
                return (null, 0x6A82);
            }

            // A (re)selection of the application ends the session, as a Java Card's deselect does.
            Deauthenticate();
            _selected = true;
            _current = ApplicationId;
            return (wantsNothing ? null : (byte[])Fci.Clone(), 0x9000);
        }

        if (apdu.P1 != 0x00)
        {
            return (null, 0x6A86);
        }

        if (apdu.Data.Length != 2)
        {
            return (null, apdu.Data.Length == 0 ? (ushort)0x6A82 : (ushort)0x6700);
        }

        var id = (apdu.Data[0] << 8) | apdu.Data[1];
        if (id is ApplicationId or 0x3F00)
        {
            _current = ApplicationId;
            return (wantsNothing ? null : (byte[])ApplicationFcp.Clone(), 0x9000);
        }

        if (!_files.TryGetValue(id, out var file))
        {
            return (null, 0x6A82);
        }

        _current = id;
        return (wantsNothing ? null : file.Fcp.ToArray(), 0x9000);
    }

    // VERIFY the user PIN (P2 80); P2 82 forgets every authentication (gids_logout).
    private (byte[]?, ushort) Verify(CommandApdu apdu)
    {
        if (apdu.P1 != 0x00)
        {
            return (null, 0x6A86);
        }

        if (apdu.P2 == 0x82)
        {
            Deauthenticate();
            return (null, 0x9000);
        }

        if (apdu.P2 is not (0x80 or 0x00))
        {
            return (null, 0x6A88);
        }

        if (!_operational && _pin is null)
        {
            return (null, apdu.Data.Length == 0 ? (ushort)0x9000 : (ushort)0x6983);
        }

        if (PinBlocked)
        {
            return (null, 0x6983);
        }

        if (apdu.Data.Length == 0)
        {
            return (null, _pinVerified ? (ushort)0x9000 : TriesLeftSw());
        }

        return CheckPin(apdu.Data) ? (null, 0x9000) : (null, WrongPinSw());
    }

    // CHANGE REFERENCE DATA: P1 01 sets the PIN (the first one in the initialization state, or
    // once verified); P1 00 takes the current PIN followed by the new one.
    private (byte[]?, ushort) ChangeReferenceData(CommandApdu apdu)
    {
        if (apdu.P2 is not (0x80 or 0x00))
        {
            return (null, 0x6A88);
        }

        if (apdu.P1 == 0x01)
        {
            if (!PinLengthOk(apdu.Data.Length))
            {
                return (null, 0x6A80);
            }

            if (_operational && !_pinVerified)
            {
                return (null, 0x6982);
            }

            SetPin(apdu.Data);
            return (null, 0x9000);
        }

        if (apdu.P1 != 0x00)
        {
            return (null, 0x6A86);
        }

        if (PinBlocked)
        {
            return (null, 0x6983);
        }

        var current = _pin!.Length;
        if (apdu.Data.Length < current || !CheckPin(apdu.Data.AsSpan(0, current)))
        {
            if (apdu.Data.Length < current)
            {
                Decrement();
            }

            return (null, PinBlocked ? (ushort)0x6983 : WrongPinSw());
        }

        var fresh = apdu.Data.AsSpan(current);
        if (!PinLengthOk(fresh.Length))
        {
            return (null, 0x6700);
        }

        SetPin(fresh);
        _pinVerified = true;
        return (null, 0x9000);
    }

    // RESET RETRY COUNTER, P1 02: a new PIN, allowed by the admin key (gids-tool --unblock). The
    // card forgets both authentications afterwards.
    private (byte[]?, ushort) ResetRetryCounter(CommandApdu apdu)
    {
        if (!_operational)
        {
            return (null, 0x6986);
        }

        if (apdu.P1 != 0x02)
        {
            return (null, 0x6A86);
        }

        if (apdu.P2 != 0x80)
        {
            return (null, 0x6A88);
        }

        if (!_adminAuthenticated)
        {
            return (null, 0x6982);
        }

        if (!PinLengthOk(apdu.Data.Length))
        {
            return (null, 0x6A80);
        }

        SetPin(apdu.Data);
        Deauthenticate();
        return (null, 0x9000);
    }

    private (byte[]?, ushort) ManageSecurityEnvironment(CommandApdu apdu)
    {
        if (!Tlvs.TryChildren(apdu.Data, 0, apdu.Data.Length, out var children) || children.Count == 0)
        {
            return (null, 0x6A80);
        }

        // C1 A4: the key of an external or mutual authentication (83 01 80: the admin key).
        if (apdu.P1 == 0xC1 && apdu.P2 == 0xA4)
        {
            var reference = Tlvs.Find(children, 0x83) ?? Tlvs.Find(children, 0x84);
            if (reference is not { ValueLength: 1 } r || apdu.Data[r.ValueOffset] != 0x80)
            {
                return (null, 0x6A88);
            }

            if (_adminKey is null)
            {
                return (null, 0x6A88);
            }

            ClearChallenges();
            _authKeySelected = true;
            return (null, 0x9000);
        }

        // 41 B6 / 41 B8: signing or deciphering with a private key (80: algorithm, 84: key reference).
        if (apdu.P1 == 0x41 && apdu.P2 is 0xB6 or 0xB8)
        {
            var algorithm = Tlvs.Find(children, 0x80);
            var key = Tlvs.Find(children, 0x84) ?? Tlvs.Find(children, 0x83);
            if (algorithm is not { ValueLength: 1 } a || key is not { ValueLength: 1 } k)
            {
                return (null, 0x6A80);
            }

            var file = 0xB000 | apdu.Data[k.ValueOffset];
            if (!_files.TryGetValue(file, out var f) || f.PrivateKey is null)
            {
                return (null, 0x6A88);
            }

            _environment = (apdu.P2 == 0xB6, apdu.Data[a.ValueOffset], file);
            return (null, 0x9000);
        }

        return (null, 0x6A86);
    }

    // GENERAL AUTHENTICATE with the admin key (decision 0013, OpenSC's gids_authenticate_admin):
    // 7C{81 R1} → 7C{81 R2}; 7C{82 E(R2||R1||Z1)} → 7C{82 E(R1||R2||Z2)}. Also the one-block
    // external authentication: 7C{81 empty} → 7C{81 challenge}; 7C{82 E(challenge)}.
    private (byte[]?, ushort) GeneralAuthenticate(CommandApdu apdu)
    {
        if (!_operational)
        {
            return (null, 0x6986);
        }

        if (apdu.P1 != 0x00 || apdu.P2 != 0x00)
        {
            return (null, 0x6A86);
        }

        if (!_authKeySelected || _adminKey is null)
        {
            return (null, 0x6985);
        }

        if (!Tlvs.TryReadOnly(apdu.Data, 0x7C, out var outer)
            || !Tlvs.TryChildren(apdu.Data, outer.ValueOffset, outer.ValueLength, out var children) || children.Count != 1)
        {
            ClearChallenges();
            return (null, 0x6A80);
        }

        var item = children[0];
        var value = apdu.Data.AsSpan(item.ValueOffset, item.ValueLength);
        switch (item.Tag)
        {
            case 0x81 when value.Length == 16:
                ClearChallenges();
                _adminAuthenticated = false;
                _hostChallenge = value.ToArray();
                _cardChallenge = RandomNumberGenerator.GetBytes(16);
                return ([0x7C, 0x12, 0x81, 0x10, .. _cardChallenge], 0x9000);
            case 0x81 when value.Length == 0:
                ClearChallenges();
                _adminAuthenticated = false;
                _externalChallenge = RandomNumberGenerator.GetBytes(8);
                return ([0x7C, 0x0A, 0x81, 0x08, .. _externalChallenge], 0x9000);
            case 0x82 when value.Length == 40 && _hostChallenge is { } r1 && _cardChallenge is { } r2:
                {
                    ClearChallenges();
                    var plain = AdminCipher.Decrypt(_adminKey, value);
                    var ok = CryptographicOperations.FixedTimeEquals(plain.AsSpan(0, 16), r2)
                        & CryptographicOperations.FixedTimeEquals(plain.AsSpan(16, 16), r1)
                        & plain[39] == 0x80;
                    if (!ok)
                    {
                        return (null, 0x6982);
                    }

                    _adminAuthenticated = true;
                    var z2 = RandomNumberGenerator.GetBytes(8);
                    z2[7] = 0x80;
                    var answer = AdminCipher.Encrypt(_adminKey, [.. r1, .. r2, .. z2]);
                    return ([0x7C, 0x2A, 0x82, 0x28, .. answer], 0x9000);
                }

            case 0x82 when value.Length == 8 && _externalChallenge is { } challenge:
                {
                    ClearChallenges();
                    var expected = AdminCipher.Encrypt(_adminKey, challenge);
                    if (!CryptographicOperations.FixedTimeEquals(expected, value))
                    {
                        return (null, 0x6982);
                    }

                    _adminAuthenticated = true;
                    return (null, 0x9000);
                }

            default:
                // An answer with no challenge outstanding (or to a spent one) is out of order; anything else is malformed.
                ClearChallenges();
                return (null, item.Tag == 0x82 ? (ushort)0x6985 : (ushort)0x6A80);
        }
    }

    private (byte[]?, ushort) GetData(CommandApdu apdu)
    {
        var id = (apdu.P1 << 8) | apdu.P2;
        var data = apdu.Data;
        if (id == ApplicationId)
        {
            // 70 08 84 01 kid A5 03 7F 49 80: the public key of a key (gids_read_public_key).
            if (data.Length == 10 && data[0] == 0x70 && data[1] == 0x08 && data[2] == 0x84 && data[3] == 0x01)
            {
                return PublicKey(0xB000 | data[4]);
            }

            // 5C 02 7F 71: the PIN's status (97 tries left, 93 the limit).
            if (data.Length == 4 && data[0] == 0x5C && data[1] == 0x02)
            {
                var tag = (data[2] << 8) | data[3];
                if (tag != 0x7F71)
                {
                    return (null, 0x6A88);
                }

                var left = _pin is null ? (_operational ? 0 : PinTryLimit) : _pinTriesLeft;
                return ([0x7F, 0x71, 0x06, 0x97, 0x01, (byte)left, 0x93, 0x01, PinTryLimit], 0x9000);
            }

            return (null, 0x6984);
        }

        if (!_files.TryGetValue(id, out var file))
        {
            return (null, 0x6A82);
        }

        if (file.Type != TypeDataObjects)
        {
            return (null, 0x6981);
        }

        if (data.Length is < 3 or > 5 || data[0] != 0x5C || data[1] != data.Length - 2)
        {
            return (null, 0x6A80);
        }

        if (!Allowed(file.GetCondition))
        {
            return (null, 0x6982);
        }

        var wanted = 0;
        foreach (var b in data.AsSpan(2))
        {
            wanted = (wanted << 8) | b;
        }

        var found = file.Objects.Find(o => o.Tag == wanted);
        return found is null ? (null, 0x6A88) : (Tlvs.Encode(found.Tag, found.Value), (ushort)0x9000);
    }

    private (byte[]?, ushort) PublicKey(int keyFile)
    {
        if (!_files.TryGetValue(keyFile, out var file) || file.PrivateKey is null)
        {
            return (null, 0x6A88);
        }

        if (IsRsa(file.KeyAlgorithm))
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(file.PrivateKey, out _);
            var p = rsa.ExportParameters(false);
            byte[] inner = [.. Tlvs.Encode(0x81, p.Modulus), .. Tlvs.Encode(0x82, p.Exponent)];
            return (Tlvs.Encode(0x7F49, inner), 0x9000);
        }

        using var ec = ECDsa.Create();
        ec.ImportPkcs8PrivateKey(file.PrivateKey, out _);
        var q = ec.ExportParameters(false).Q;
        byte[] point = [0x04, .. q.X!, .. q.Y!];
        return (Tlvs.Encode(0x7F49, Tlvs.Encode(0x86, point)), 0x9000);
    }

    private (byte[]?, ushort) PutData(CommandApdu apdu)
    {
        var id = (apdu.P1 << 8) | apdu.P2;
        return id == ApplicationId ? PutKey(apdu.Data) : PutObject(id, apdu.Data);
    }

    // PUT DATA 3FFF 70{84 ref, A5{…}}: the admin key (ref 80: A5{87 key, 88 …}, gids_set_administrator_key)
    // or an RSA private key into a key file (A5{83 type, 84 0, 87{SEQUENCE of the CRT parts}}, gids_import_key).
    private (byte[]?, ushort) PutKey(byte[] data)
    {
        if (!Tlvs.TryReadOnly(data, 0x70, out var outer)
            || !Tlvs.TryChildren(data, outer.ValueOffset, outer.ValueLength, out var children)
            || Tlvs.Find(children, 0x84) is not { ValueLength: 1 } reference
            || Tlvs.Find(children, 0xA5) is not { } template
            || !Tlvs.TryChildren(data, template.ValueOffset, template.ValueLength, out var parts)
            || Tlvs.Find(parts, 0x87) is not { } value)
        {
            return (null, 0x6A80);
        }

        var keyReference = data[reference.ValueOffset];
        var bytes = data.AsSpan(value.ValueOffset, value.ValueLength);
        if (keyReference == 0x80)
        {
            if (_operational && !_adminAuthenticated)
            {
                return (null, 0x6982);
            }

            if (!AdminCipher.IsUsable(bytes))
            {
                return (null, 0x6A80);
            }

            _adminKey = bytes.ToArray();
            _changed = true;
            return (null, 0x9000);
        }

        if (!_files.TryGetValue(0xB000 | keyReference, out var file) || file.Type != TypeKey)
        {
            return (null, 0x6A88);
        }

        if (_operational && !_pinVerified)
        {
            return (null, 0x6982);
        }

        byte[] pkcs8;
        try
        {
            pkcs8 = ImportRsa(bytes);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException or ArgumentException or OverflowException)
        {
            return (null, 0x6A80);
        }

        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(pkcs8, out _);
        var algorithm = RsaIdentifier(rsa.KeySize);
        if (algorithm == 0)
        {
            return (null, 0x6A80);
        }

        file.PrivateKey = pkcs8;
        file.KeyAlgorithm = algorithm;
        _changed = true;
        return (null, 0x9000);
    }

    // SEQUENCE { version, n, e, d, p, q, dmp1, dmq1, iqmp } (OpenSC's asn1_rsa_priv_coefficients_gids).
    private static byte[] ImportRsa(ReadOnlySpan<byte> der)
    {
        var reader = new AsnReader(der.ToArray(), AsnEncodingRules.BER);
        var sequence = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        _ = sequence.ReadInteger();
        var n = Magnitude(sequence);
        var e = Magnitude(sequence);
        var d = Magnitude(sequence);
        var p = Magnitude(sequence);
        var q = Magnitude(sequence);
        var dp = Magnitude(sequence);
        var dq = Magnitude(sequence);
        var qi = Magnitude(sequence);
        sequence.ThrowIfNotEmpty();
        var half = (n.Length + 1) / 2;
        using var rsa = RSA.Create();
        rsa.ImportParameters(new RSAParameters
        {
            Modulus = n,
            Exponent = e,
            D = Pad(d, n.Length),
            P = Pad(p, half),
            Q = Pad(q, half),
            DP = Pad(dp, half),
            DQ = Pad(dq, half),
            InverseQ = Pad(qi, half),
        });
        return rsa.ExportPkcs8PrivateKey();
    }

    // OpenSC writes each key part as BN_bn2bin's bytes under an INTEGER tag (SC_ASN1_OCTET_STRING
    // with SC_ASN1_TAG_INTEGER in card-gids.c): an unsigned magnitude with no sign byte, not a
    // minimal two's-complement INTEGER. A part that starts 0xFF 0x8x is therefore well formed here,
    // though AsnReader.ReadIntegerBytes would call it non-minimal (one key in a few hundred).
    private static byte[] Magnitude(AsnReader sequence)
    {
        if (sequence.PeekTag() != Asn1Tag.Integer)
        {
            throw new AsnContentException("A GIDS key part is not tagged INTEGER.");
        }

        var content = sequence.PeekContentBytes();
        _ = sequence.ReadEncodedValue();
        return Unsigned(content.Span);
    }

    private (byte[]?, ushort) PutObject(int id, byte[] data)
    {
        if (!_files.TryGetValue(id, out var file))
        {
            return (null, 0x6A82);
        }

        if (file.Type != TypeDataObjects)
        {
            return (null, 0x6981);
        }

        if (!Tlvs.TryRead(data, 0, out var tlv) || tlv.End != data.Length || tlv.Tag is 0 or 0x5C)
        {
            return (null, 0x6A80);
        }

        if (!Allowed(file.PutCondition))
        {
            return (null, 0x6982);
        }

        if (tlv.ValueLength > MaxObjectLength)
        {
            return (null, 0x6A84);
        }

        var existing = file.Objects.Find(o => o.Tag == tlv.Tag);
        var used = _files.Values.Sum(f => f.Objects.Sum(o => o.Value.Length)) - (existing?.Value.Length ?? 0);
        if (used + tlv.ValueLength > MemoryBytes || (existing is null && file.Objects.Count >= MaxObjectsPerFile))
        {
            return (null, 0x6A84);
        }

        var value = data.AsSpan(tlv.ValueOffset, tlv.ValueLength).ToArray();
        if (existing is null)
        {
            file.Objects.Add(new GidsDataObjectState { Tag = tlv.Tag, Value = value });
        }
        else if (existing.Value.Length == 0 && value.Length == 0)
        {
            file.Objects.Remove(existing); // an empty object written empty again is deleted (as GIDS applets do)
        }
        else
        {
            existing.Value = value;
        }

        _changed = true;
        return (null, 0x9000);
    }

    // CREATE FILE with an FCP (62): 82 the type (39 data objects, 18 key), 83 the identifier, 8C the access rules.
    private (byte[]?, ushort) CreateFile(CommandApdu apdu)
    {
        if (apdu.P1 != 0x00 || apdu.P2 != 0x00)
        {
            return (null, 0x6A86);
        }

        var data = apdu.Data;
        if (!Tlvs.TryReadOnly(data, 0x62, out var fcp)
            || !Tlvs.TryChildren(data, fcp.ValueOffset, fcp.ValueLength, out var children)
            || Tlvs.Find(children, 0x82) is not { ValueLength: >= 1 } descriptor
            || Tlvs.Find(children, 0x83) is not { ValueLength: 2 } identifier)
        {
            return (null, 0x6A80);
        }

        if (_operational && !_pinVerified && !_adminAuthenticated)
        {
            return (null, 0x6982);
        }

        var type = data[descriptor.ValueOffset];
        var id = (data[identifier.ValueOffset] << 8) | data[identifier.ValueOffset + 1];
        var validId = type switch
        {
            TypeDataObjects => id is not (ApplicationId or 0x3F00 or 0x0000 or 0xFFFF) && (id & 0xFF00) != 0xB000,
            TypeKey => (id & 0xFF00) == 0xB000 && (id & 0xFF) >= 0x80,
            _ => false,
        };
        if (!validId)
        {
            return (null, 0x6A80);
        }

        if (_files.ContainsKey(id))
        {
            return (null, 0x6A89);
        }

        if (_files.Count >= MaxFiles)
        {
            return (null, 0x6A84);
        }

        var file = new GidsFileState { Id = id, Type = type, Fcp = data.ToArray(), PutCondition = 0xFF, GetCondition = 0xFF };
        if (type == TypeDataObjects && Tlvs.Find(children, 0x8C) is { } security)
        {
            if (!CompactConditions(data.AsSpan(security.ValueOffset, security.ValueLength), out var put, out var get))
            {
                return (null, 0x6A80);
            }

            (file.PutCondition, file.GetCondition) = (put, get);
        }

        _files[id] = file;
        _current = id;
        _changed = true;
        return (null, 0x9000);
    }

    // ISO 7816-4 compact security attributes: an access mode byte, then one condition byte per
    // bit set in b7…b1, highest first. For a data object file b2 is PUT DATA and b1 GET DATA.
    private static bool CompactConditions(ReadOnlySpan<byte> attributes, out byte put, out byte get)
    {
        put = get = 0xFF;
        if (attributes.IsEmpty)
        {
            return false;
        }

        var mode = attributes[0];
        var conditions = attributes[1..];
        var index = 0;
        for (var bit = 6; bit >= 0; bit--)
        {
            if ((mode & (1 << bit)) == 0)
            {
                continue;
            }

            if (index >= conditions.Length)
            {
                return false;
            }

            if (bit == 1)
            {
                put = conditions[index];
            }
            else if (bit == 0)
            {
                get = conditions[index];
            }

            index++;
        }

        return index == conditions.Length;
    }

    private (byte[]?, ushort) ActivateFile(CommandApdu apdu)
    {
        if (apdu.P1 != 0x00 || apdu.P2 != 0x00)
        {
            return (null, 0x6A86);
        }

        if (_current is not { } current)
        {
            return (null, 0x6985);
        }

        if (current == ApplicationId)
        {
            if (!_operational)
            {
                // The end of the initialization state: from now on the access rules hold.
                _operational = true;
                if (_pin is not null)
                {
                    _pinTriesLeft = PinTryLimit;
                }

                Deauthenticate();
                _changed = true;
            }

            return (null, 0x9000);
        }

        if (_files.TryGetValue(current, out var file) && !file.Active)
        {
            file.Active = true;
            _changed = true;
        }

        return (null, 0x9000);
    }

    private (byte[]?, ushort) DeleteFile(CommandApdu apdu)
    {
        if (apdu.P1 != 0x00 || apdu.P2 != 0x00)
        {
            return (null, 0x6A86);
        }

        int id;
        if (apdu.Data.Length == 0)
        {
            if (_current is not { } current)
            {
                return (null, 0x6985);
            }

            id = current;
        }
        else if (apdu.Data.Length == 2)
        {
            id = (apdu.Data[0] << 8) | apdu.Data[1];
        }
        else
        {
            return (null, 0x6700);
        }

        if (id == ApplicationId || id == AdminKeyFile)
        {
            return (null, 0x6985);
        }

        if (!_files.TryGetValue(id, out var file))
        {
            return (null, 0x6A82);
        }

        if (_operational && !_pinVerified && !_adminAuthenticated)
        {
            return (null, 0x6982);
        }

        if (file.PrivateKey is not null)
        {
            CryptographicOperations.ZeroMemory(file.PrivateKey);
        }

        _files.Remove(id);
        if (_environment?.KeyFile == id)
        {
            _environment = null;
        }

        _current = ApplicationId;
        _changed = true;
        return (null, 0x9000);
    }

    // GENERATE ASYMMETRIC KEY PAIR: AC{80 algorithm, 83 key reference} (gids_generate_key).
    private (byte[]?, ushort) GenerateKeyPair(CommandApdu apdu)
    {
        if (apdu.P1 != 0x00 || apdu.P2 != 0x00)
        {
            return (null, 0x6A86);
        }

        var data = apdu.Data;
        if (!Tlvs.TryReadOnly(data, 0xAC, out var crt)
            || !Tlvs.TryChildren(data, crt.ValueOffset, crt.ValueLength, out var children)
            || Tlvs.Find(children, 0x80) is not { ValueLength: 1 } algorithmTlv
            || Tlvs.Find(children, 0x83) is not { ValueLength: 1 } keyTlv)
        {
            return (null, 0x6A80);
        }

        var algorithm = data[algorithmTlv.ValueOffset];
        if (!_files.TryGetValue(0xB000 | data[keyTlv.ValueOffset], out var file) || file.Type != TypeKey || file.Id == AdminKeyFile)
        {
            return (null, 0x6A88);
        }

        if (_operational && !_pinVerified)
        {
            return (null, 0x6982);
        }

        byte[] pkcs8;
        switch (algorithm)
        {
            case 0x06 or 0x07 or 0x08 or 0x09:
                {
                    using var rsa = RSA.Create(RsaBits(algorithm));
                    pkcs8 = rsa.ExportPkcs8PrivateKey();
                    break;
                }

            case 0x0C or 0x0D or 0x0E:
                {
                    using var ec = ECDsa.Create(Curve(algorithm));
                    pkcs8 = ec.ExportPkcs8PrivateKey();
                    break;
                }

            default:
                return (null, 0x6A80);
        }

        if (file.PrivateKey is not null)
        {
            CryptographicOperations.ZeroMemory(file.PrivateKey);
        }

        file.PrivateKey = pkcs8;
        file.KeyAlgorithm = algorithm;
        _changed = true;
        return (null, 0x9000);
    }

    // PERFORM SECURITY OPERATION: 9E 9A compute a digital signature, 80 86 decipher, with the key
    // and algorithm MANAGE SECURITY ENVIRONMENT chose.
    private (byte[]?, ushort) PerformSecurityOperation(CommandApdu apdu)
    {
        var sign = (apdu.P1, apdu.P2) switch
        {
            (0x9E, 0x9A) => true,
            (0x80, 0x86) => false,
            _ => (bool?)null,
        };
        if (sign is null)
        {
            return (null, 0x6A86);
        }

        if (_environment is not { } environment || environment.Sign != sign)
        {
            return (null, 0x6985);
        }

        if (_operational && !_pinVerified)
        {
            return (null, 0x6982);
        }

        if (!_files.TryGetValue(environment.KeyFile, out var file) || file.PrivateKey is null)
        {
            return (null, 0x6A88);
        }

        if (apdu.Data.Length == 0)
        {
            return (null, 0x6A80);
        }

        if (!IsRsa(file.KeyAlgorithm))
        {
            if (!sign.Value)
            {
                return (null, 0x6A81);
            }

            using var ec = ECDsa.Create();
            ec.ImportPkcs8PrivateKey(file.PrivateKey, out _);
            return (ec.SignHash(apdu.Data), 0x9000);
        }

        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(file.PrivateKey, out _);
        var k = rsa.KeySize / 8;
        var scheme = environment.Algorithm & 0xF0;
        try
        {
            if (sign.Value)
            {
                if (scheme is RsaPkcs1Sign or RsaSha)
                {
                    // EMSA-PKCS1-v1_5 over what the host sent (a DigestInfo, or raw data for CKM_RSA_PKCS).
                    if (apdu.Data.Length > k - 11)
                    {
                        return (null, 0x6A80);
                    }

                    var block = new byte[k];
                    block[1] = 0x01;
                    block.AsSpan(2, k - 3 - apdu.Data.Length).Fill(0xFF);
                    apdu.Data.CopyTo(block, k - apdu.Data.Length);
                    return (RawPrivate(rsa, block), 0x9000);
                }

                return apdu.Data.Length == k ? (RawPrivate(rsa, apdu.Data), (ushort)0x9000) : (null, 0x6A80);
            }

            if (apdu.Data.Length != k)
            {
                return (null, 0x6A80);
            }

            return scheme switch
            {
                RsaPkcs1Decrypt => (rsa.Decrypt(apdu.Data, RSAEncryptionPadding.Pkcs1), 0x9000),
                RsaOaep => (rsa.Decrypt(apdu.Data, RSAEncryptionPadding.OaepSHA1), 0x9000),
                _ => (RawPrivate(rsa, apdu.Data), 0x9000),
            };
        }
        catch (CryptographicException)
        {
            return (null, 0x6A80);
        }
    }

    // m^d mod n: the raw RSA private operation a card does under its own padding; .NET offers
    // none without a padding of its own. The key never leaves this method.
    private static byte[] RawPrivate(RSA rsa, ReadOnlySpan<byte> input)
    {
        var p = rsa.ExportParameters(true);
        try
        {
            var n = new BigInteger(p.Modulus, isUnsigned: true, isBigEndian: true);
            var m = new BigInteger(input, isUnsigned: true, isBigEndian: true);
            if (m >= n)
            {
                throw new CryptographicException("The input is not smaller than the modulus.");
            }

            var d = new BigInteger(p.D, isUnsigned: true, isBigEndian: true);
            var c = BigInteger.ModPow(m, d, n).ToByteArray(isUnsigned: true, isBigEndian: true);
            return Pad(c, p.Modulus!.Length);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(p.D);
            CryptographicOperations.ZeroMemory(p.P);
            CryptographicOperations.ZeroMemory(p.Q);
            CryptographicOperations.ZeroMemory(p.DP);
            CryptographicOperations.ZeroMemory(p.DQ);
            CryptographicOperations.ZeroMemory(p.InverseQ);
        }
    }

    private bool PinBlocked => _pin is null || _pinTriesLeft <= 0;

    private static bool PinLengthOk(int length) => length is >= PinMinLength and <= PinMaxLength;

    private bool CheckPin(ReadOnlySpan<byte> candidate)
    {
        if (_pin is not null && CryptographicOperations.FixedTimeEquals(candidate, _pin))
        {
            if (_pinTriesLeft != PinTryLimit)
            {
                _pinTriesLeft = PinTryLimit;
                _changed = true;
            }

            _pinVerified = true;
            return true;
        }

        Decrement();
        return false;
    }

    private void Decrement()
    {
        _pinVerified = false;
        if (_pinTriesLeft > 0)
        {
            _pinTriesLeft--;
            _changed = true;
        }
    }

    private ushort WrongPinSw() => (ushort)(0x63C0 | _pinTriesLeft);

    private ushort TriesLeftSw() => (ushort)(0x63C0 | (_pin is null ? 0 : _pinTriesLeft));

    private void SetPin(ReadOnlySpan<byte> pin)
    {
        if (_pin is not null)
        {
            CryptographicOperations.ZeroMemory(_pin);
        }

        _pin = pin.ToArray();
        _pinTriesLeft = PinTryLimit;
        _changed = true;
    }

    // A security condition byte (compact format) as GIDS applets read it: 00 always, FF never;
    // b5 (0x10) the user PIN, b6 (0x20) the admin key, either one unless b8 asks for all.
    private bool Allowed(byte condition)
    {
        if (!_operational || condition == 0x00)
        {
            return true;
        }

        if (condition == 0xFF)
        {
            return false;
        }

        var user = (condition & 0x10) != 0;
        var admin = (condition & 0x20) != 0;
        if ((condition & 0x80) != 0)
        {
            return (!user || _pinVerified) && (!admin || _adminAuthenticated) && (user || admin);
        }

        return (user && _pinVerified) || (admin && _adminAuthenticated);
    }

    private void Deauthenticate()
    {
        _pinVerified = false;
        _adminAuthenticated = false;
        _authKeySelected = false;
        _environment = null;
        ClearChallenges();
    }

    private void ClearChallenges()
    {
        _hostChallenge = _cardChallenge = _externalChallenge = null;
    }

    private static bool IsRsa(byte algorithm) => algorithm is >= 0x06 and <= 0x09;

    private static int RsaBits(byte algorithm) => algorithm switch
    {
        0x06 => 1024,
        0x07 => 2048,
        0x08 => 3072,
        _ => 4096,
    };

    private static byte RsaIdentifier(int bits) => bits switch
    {
        1024 => 0x06,
        2048 => 0x07,
        3072 => 0x08,
        4096 => 0x09,
        _ => 0,
    };

    private static ECCurve Curve(byte algorithm) => algorithm switch
    {
        0x0C => ECCurve.NamedCurves.nistP256,
        0x0D => ECCurve.NamedCurves.nistP384,
        _ => ECCurve.NamedCurves.nistP521,
    };

    private static byte[] Unsigned(ReadOnlySpan<byte> integer)
    {
        var start = 0;
        while (start < integer.Length - 1 && integer[start] == 0)
        {
            start++;
        }

        return integer[start..].ToArray();
    }

    private static byte[] Pad(byte[]? value, int length)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == length)
        {
            return value;
        }

        if (value.Length > length)
        {
            throw new ArgumentException("An RSA key part is longer than its modulus allows.", nameof(value));
        }

        var padded = new byte[length];
        value.CopyTo(padded, length - value.Length);
        return padded;
    }

    private static GidsFileState Copy(GidsFileState f) => new()
    {
        Id = f.Id,
        Type = f.Type,
        Fcp = f.Fcp.ToArray(),
        PutCondition = f.PutCondition,
        GetCondition = f.GetCondition,
        Active = f.Active,
        Objects = [.. f.Objects.Select(o => new GidsDataObjectState { Tag = o.Tag, Value = o.Value.ToArray() })],
        KeyAlgorithm = f.KeyAlgorithm,
        PrivateKey = f.PrivateKey?.ToArray(),
    };

    private static byte[] Sw(ushort sw) => [(byte)(sw >> 8), (byte)sw];

    // The commands OpenSC's gids_initialize sends after the PIN: the file system's files (their
    // FCPs as it sends them), the admin key file and key, the master file and the minidriver files,
    // the card id, then SELECT 3FFF and ACTIVATE FILE. A site's blank card is made by this script.
    private static List<byte[]> InitializationScript(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> cardId)
    {
        var steps = new List<byte[]> { Command(0x00, 0xA4, 0x04, 0x00, Aid) };
        foreach (var (id, put, get) in (ReadOnlySpan<(int, byte, byte)>)[(0xA000, 0x30, 0x00), (0xA010, 0x30, 0x00), (0xA011, 0x30, 0xFF), (0xA012, 0x20, 0x00), (0xA013, 0x30, 0x30), (0xA014, 0x20, 0x20)])
        {
            steps.Add(Command(0x00, 0xE0, 0x00, 0x00, [0x62, 0x0C, 0x82, 0x01, 0x39, 0x83, 0x02, (byte)(id >> 8), (byte)id, 0x8C, 0x03, 0x03, put, get]));
            steps.Add(Command(0x00, 0x44, 0x00, 0x00, []));
        }

        steps.Add(Command(0x00, 0xE0, 0x00, 0x00, [0x62, 0x1A, 0x82, 0x01, 0x18, 0x83, 0x02, 0xB0, 0x80, 0x8C, 0x04, 0x87, 0x00, 0x20, 0xFF, 0xA5, 0x0B, 0xA4, 0x09, 0x80, 0x01, 0x02, 0x83, 0x01, 0x80, 0x95, 0x01, 0xC0]));
        steps.Add(Command(0x00, 0x44, 0x00, 0x00, []));
        steps.Add(Command(0x00, 0xDB, 0x3F, 0xFF, Tlvs.Encode(0x70, [0x84, 0x01, 0x80, .. Tlvs.Encode(0xA5, [.. Tlvs.Encode(0x87, adminKey), 0x88, 0x03, 0xB0, 0x73, 0xDC])])));
        steps.Add(Command(0x00, 0xDB, 0xA0, 0x00, Tlvs.Encode(0xDF1F, MasterFile())));
        steps.Add(Command(0x00, 0xDB, 0xA0, 0x10, Tlvs.Encode(0xDF21, "mscp\0\0\0\0"u8)));
        steps.Add(Command(0x00, 0xDB, 0xA0, 0x10, Tlvs.Encode(0xDF22, new byte[6])));
        steps.Add(Command(0x00, 0xDB, 0xA0, 0x10, Tlvs.Encode(0xDF23, [])));
        steps.Add(Command(0x00, 0xDB, 0xA0, 0x12, Tlvs.Encode(0xDF20, cardId)));
        steps.Add(Command(0x00, 0xA4, 0x00, 0x0C, [0x3F, 0xFF]));
        steps.Add(Command(0x00, 0x44, 0x00, 0x00, []));
        return steps;
    }

    // The master file gids_initialize writes: a version byte (1), then 28-byte records (directory
    // [9], file name [9], 2 bytes of alignment, the data object and file identifiers as 32-bit
    // little-endian): mscp (A000), cardid (A012 DF20), cardapps (A010 DF21), cardcf (A010 DF22), mscp\cmapfile (A010 DF23).
    private static byte[] MasterFile()
    {
        var records = new (string Directory, string File, int DataObject, int FileId)[]
        {
            ("mscp", "", 0, 0xA000),
            ("", "cardid", 0xDF20, 0xA012),
            ("", "cardapps", 0xDF21, 0xA010),
            ("", "cardcf", 0xDF22, 0xA010),
            ("mscp", "cmapfile", 0xDF23, 0xA010),
        };
        var result = new byte[1 + (28 * records.Length)];
        result[0] = 1;
        for (var i = 0; i < records.Length; i++)
        {
            var r = result.AsSpan(1 + (28 * i), 28);
            System.Text.Encoding.ASCII.GetBytes(records[i].Directory).CopyTo(r);
            System.Text.Encoding.ASCII.GetBytes(records[i].File).CopyTo(r[9..]);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(r[20..], records[i].DataObject);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(r[24..], records[i].FileId);
        }

        return result;
    }

    private static byte[] Command(byte cla, byte ins, byte p1, byte p2, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return [cla, ins, p1, p2];
        }

        return data.Length <= 255
            ? [cla, ins, p1, p2, (byte)data.Length, .. data]
            : [cla, ins, p1, p2, 0x00, (byte)(data.Length >> 8), (byte)data.Length, .. data];
    }
}
