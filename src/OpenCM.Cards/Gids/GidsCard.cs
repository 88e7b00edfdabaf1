using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Cards.Apdu;
using OpenCM.Smartcards;

namespace OpenCM.Cards.Gids;

/// <summary>
/// A GIDS card (Microsoft's Generic Identity Device Specification) on an <see cref="IApduChannel"/>:
/// issue #22.3. Every APDU is the one OpenSC's card-gids.c sends for the same step, and the files
/// it writes are the minidriver's (cardid, cardcf, mscp\cmapfile, mscp\kxcNN), so that OpenSC
/// (pkcs11-tool, gids-tool) and Windows' inbox GIDS minidriver read what this client wrote.
/// <para>
/// The admin key is proven by GIDS mutual authentication (decision 0013): <see cref="GetChallenge"/>
/// opens a transaction, selects the admin key and exchanges the random numbers, and returns
/// R2||R1||Z1 for the server to encrypt; the admin operation that follows sends that answer and
/// does its work in the same transaction, then ends it. One challenge, one operation: any other
/// call in between voids the challenge (the card's authentication state would not survive it).
/// </para>
/// <para>
/// The card id is the 16-byte minidriver cardid as 32 upper-case hex digits (what OpenSC prints as
/// the token's serial number, in lower case). Keys are RSA (1024 to 4096 bits), made on the card:
/// OpenSC's GIDS driver reads no other kind. PINs and keys are never logged and are zeroed after use.
/// </para>
/// </summary>
public sealed class GidsCard : ICardDevice
{
    /// <summary>The GIDS application identifier without its version byte, as gids_match_card selects it.</summary>
    public static ReadOnlySpan<byte> ApplicationId => [0xA0, 0x00, 0x00, 0x03, 0x97, 0x42, 0x54, 0x46, 0x59];

    /// <summary>The PIN lengths a GIDS card takes (OpenSC's gids_get_pin_policy: 4 to 16 characters).</summary>
    public const int MinPinLength = 4;

    public const int MaxPinLength = 16;

    private const byte PinReference = 0x80;
    private const int ChallengeLength = 40;

    private readonly IApduChannel _channel;
    private IDisposable? _adminTransaction;
    private byte[]? _challenge;
    private bool _disposed;

    private GidsCard(IApduChannel channel, string cardId)
    {
        _channel = channel;
        CardId = cardId;
        Atr = Convert.ToHexString(channel.Atr);
    }

    public string CardId { get; }

    public string Atr { get; }

    public int PinTriesLeft => InTransaction(ReadPinTriesLeft);

    public bool IsPinBlocked => PinTriesLeft == 0;

    /// <summary>The certificates in the card's containers, read from the card's certificate files, by container name.</summary>
    public IReadOnlyDictionary<string, X509Certificate2> Certificates => InTransaction(ReadCertificates);

    /// <summary>
    /// The GIDS card behind <paramref name="channel"/>: selects the application, reads the master
    /// file and the card id. A card without the GIDS application, or one whose file system was
    /// never initialized (<c>gids-tool --initialize</c>), is <see cref="CardRefusal.WrongCard"/>.
    /// Once open, the card owns the channel and disposes it.
    /// </summary>
    public static GidsCard Open(IApduChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        using (channel.BeginTransaction())
        {
            var card = new GidsCard(channel, "");
            card.SelectApplication();
            var masterFile = card.ReadMasterFile();
            var cardId = card.ReadFile(masterFile, "", "cardid")
                ?? throw new CardException(CardRefusal.WrongCard, "The GIDS card has no cardid file: it was not initialized for the minidriver.");
            if (cardId.Length != 16)
            {
                throw new CardException(CardRefusal.Malformed, $"The card's cardid is {cardId.Length} bytes, not 16.");
            }

            return new GidsCard(channel, Convert.ToHexString(cardId));
        }
    }

    /// <summary>
    /// Selects the admin key and exchanges random numbers with the card (the first half of
    /// gids_authenticate_admin), keeping the card in a transaction until the admin operation.
    /// </summary>
    /// <returns>R2 (the card's 16 bytes) || R1 (this client's 16) || Z1 (7 random bytes and 0x80): 40 bytes for the server to encrypt under the admin key.</returns>
    public byte[] GetChallenge()
    {
        EndAdmin();
        var transaction = _channel.BeginTransaction();
        byte[]? r1 = null;
        try
        {
            SelectApplication();
            Expect(CommandApdu.Build(0x00, 0x22, 0xC1, 0xA4, [0x83, 0x01, PinReference]), "selecting the admin key", CardRefusal.AdminAuthenticationFailed);
            r1 = RandomNumberGenerator.GetBytes(16);
            var answer = Expect(CommandApdu.Build(0x00, 0x87, 0x00, 0x00, [0x7C, 0x12, 0x81, 0x10, .. r1], le: 256),
                "the admin authentication's challenge", CardRefusal.AdminAuthenticationFailed);
            var r2 = BerTlv.Require(BerTlv.Require(answer, 0x7C, "the card's challenge"), 0x81, "the card's challenge");
            if (r2.Length != 16)
            {
                throw new CardException(CardRefusal.Malformed, $"The card's challenge is {r2.Length} bytes, not 16.");
            }

            var z1 = RandomNumberGenerator.GetBytes(8);
            z1[7] = 0x80;
            _challenge = [.. r2, .. r1, .. z1];
            _adminTransaction = transaction;
            return (byte[])_challenge.Clone();
        }
        catch
        {
            transaction.Dispose();
            throw;
        }
        finally
        {
            if (r1 is not null)
            {
                CryptographicOperations.ZeroMemory(r1);
            }
        }
    }

    /// <summary>Writes a new admin key (gids_set_administrator_key: PUT DATA 3FFF, key reference 80, key file B073DC) once the response proves the current one.</summary>
    public void ChangeAdminKey(ReadOnlySpan<byte> response, ReadOnlySpan<byte> newKey)
    {
        if (newKey.Length != AdminKeys.KeyLength)
        {
            throw new ArgumentException($"An admin key is {AdminKeys.KeyLength} bytes.", nameof(newKey));
        }

        byte[] keyData = [0x84, 0x01, PinReference, 0xA5, 0x1F, 0x87, 0x18, .. newKey, 0x88, 0x03, 0xB0, 0x73, 0xDC];
        try
        {
            AsAdmin(response, () => PutData(GidsFormat.AppletEfid, GidsFormat.PutKeyDo, keyData, "the new admin key", CardRefusal.AdminAuthenticationFailed));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyData);
        }
    }

    /// <summary>Sets the user PIN and its tries (RESET RETRY COUNTER 00 2C 02 80, as gids-tool --unblock does) once the response proves the admin key.</summary>
    public void UnblockPin(ReadOnlySpan<byte> response, string newPin)
    {
        var pin = PinBytes(newPin, forSetting: true);
        try
        {
            AsAdmin(response, () => ResetPin(pin));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
    }

    public void VerifyPin(string pin) => InTransaction(() =>
    {
        Verify(pin);
        return 0;
    });

    /// <summary>
    /// Makes an RSA key on the card and a PKCS#10 request signed by it, as OpenSC's pkcs15init
    /// for GIDS does: a container in mscp\cmapfile and the key map, a key file created and
    /// activated (gids_perform_create_keyfile), GENERATE ASYMMETRIC KEY PAIR, the public key read
    /// back, and the request's signature made by the card (MSE SET + PSO COMPUTE DIGITAL SIGNATURE
    /// over the DigestInfo, the card padding it as PKCS#1 v1.5). A container of that name is
    /// replaced. ECDSA is <see cref="CardRefusal.Unsupported"/>: OpenSC's GIDS driver reads RSA keys only.
    /// </summary>
    public byte[] CreateCertificateRequest(string container, string pin, string subject, string keyAlgorithm, int keySize, string hashAlgorithm)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(container);
        if (container.Length > GidsFormat.MaxContainerNameLength)
        {
            throw new CardException(CardRefusal.Unsupported, $"A GIDS container name is at most {GidsFormat.MaxContainerNameLength} characters.");
        }

        if (!string.Equals(keyAlgorithm, "RSA", StringComparison.OrdinalIgnoreCase))
        {
            throw new CardException(CardRefusal.Unsupported, $"This client makes RSA keys on GIDS cards, not {keyAlgorithm}: OpenSC's and Windows' GIDS drivers read RSA keys only.");
        }

        var algorithm = GidsFormat.RsaAlgorithm(keySize);
        if (algorithm == 0)
        {
            throw new CardException(CardRefusal.Unsupported, $"A GIDS card makes RSA keys of 1024, 2048, 3072 or 4096 bits, not {keySize}.");
        }

        var hash = HashName(hashAlgorithm);
        var name = new X500DistinguishedName(subject ?? "");
        return InTransaction(() =>
        {
            Verify(pin);
            var index = CreateContainer(container, algorithm, keySize);
            var kid = (byte)(GidsFormat.FirstKeyReference + index);
            Expect(CommandApdu.Build(0x00, 0x47, 0x00, 0x00, [0xAC, 0x06, 0x80, 0x01, algorithm, 0x83, 0x01, kid]), "generating the key", CardRefusal.Refused);
            var publicKey = ReadPublicKey(kid);
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(publicKey, out _);
            if (rsa.KeySize != keySize)
            {
                throw new CardException(CardRefusal.Malformed, $"The card made a key of {rsa.KeySize} bits when asked for {keySize}.");
            }

            var request = new CertificateRequest(name, System.Security.Cryptography.X509Certificates.PublicKey.CreateFromSubjectPublicKeyInfo(publicKey, out _), hash);
            var generator = new CardRsaSignatureGenerator(publicKey, (data, h) => SignOnCard(kid, algorithm, rsa, data, h));
            return request.CreateSigningRequest(generator);
        });
    }

    /// <summary>
    /// Puts a key made off the card (server-generated, or archived and recovered) with its
    /// certificate into a new container, as OpenSC's pkcs15init does for GIDS: the container and
    /// its key file as for a generated key, the private key written by PUT DATA 3FFF/70
    /// (gids_import_key: RSA with its CRT parts), then the certificate. RSA only, as OpenSC's.
    /// </summary>
    public void ImportPfx(string container, byte[] pfx, string password, string pin)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(container);
        ArgumentNullException.ThrowIfNull(pfx);
        if (container.Length > GidsFormat.MaxContainerNameLength)
        {
            throw new CardException(CardRefusal.Unsupported, $"A GIDS container name is at most {GidsFormat.MaxContainerNameLength} characters.");
        }

        using var loaded = X509CertificateLoader.LoadPkcs12(pfx, password, X509KeyStorageFlags.EphemeralKeySet | X509KeyStorageFlags.Exportable);
        using var key = loaded.GetRSAPrivateKey()
            ?? throw new CardException(CardRefusal.Unsupported, "A GIDS card takes RSA keys only: the PFX holds no RSA private key.");
        var algorithm = GidsFormat.RsaAlgorithm(key.KeySize);
        if (algorithm == 0)
        {
            throw new CardException(CardRefusal.Unsupported, $"A GIDS card takes RSA keys of 1024, 2048, 3072 or 4096 bits, not {key.KeySize}.");
        }

        using var certificate = X509CertificateLoader.LoadCertificate(loaded.RawData);
        var parameters = key.ExportParameters(includePrivateParameters: true);
        byte[]? body = null;
        try
        {
            InTransaction(() =>
            {
                Verify(pin);
                var index = CreateContainer(container, algorithm, key.KeySize);
                var kid = (byte)(GidsFormat.FirstKeyReference + index);
                body = ImportedKey(kid, parameters);
                PutData(GidsFormat.AppletEfid, GidsFormat.PutKeyDo, body, "the private key");
                StoreCertificate(container, certificate);
                return 0;
            });
        }
        finally
        {
            foreach (var part in new[] { parameters.D, parameters.P, parameters.Q, parameters.DP, parameters.DQ, parameters.InverseQ, body })
            {
                if (part is not null)
                {
                    CryptographicOperations.ZeroMemory(part);
                }
            }
        }
    }

    /// <summary>
    /// Writes the certificate into the container's certificate file (mscp\kxcNN, compressed as
    /// gids_save_certificate writes it), creating the file in the master file when it is new. A
    /// certificate for another key is <see cref="CardRefusal.CertificateMismatch"/>.
    /// </summary>
    public void InstallCertificate(string container, byte[] certificate, string pin)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var cert = X509CertificateLoader.LoadCertificate(certificate);
        InTransaction(() =>
        {
            Verify(pin);
            StoreCertificate(container, cert);
            return 0;
        });
    }

    public byte[] PublicKey(string container) => InTransaction(() =>
    {
        var masterFile = ReadMasterFile();
        var index = RequireContainer(ReadContainerMap(masterFile), container);
        return ReadPublicKey((byte)(GidsFormat.FirstKeyReference + index));
    });

    /// <summary>Signs SHA-256 of <paramref name="data"/> with the container's key on the card (RSA PKCS#1 v1.5, the card padding the DigestInfo).</summary>
    public byte[] Sign(string container, string pin, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return InTransaction(() =>
        {
            Verify(pin);
            var masterFile = ReadMasterFile();
            var cmap = ReadContainerMap(masterFile);
            var index = RequireContainer(cmap, container);
            var kid = (byte)(GidsFormat.FirstKeyReference + index);
            var algorithm = GidsFormat.RsaAlgorithm(Math.Max(GidsFormat.KeyExchangeKeyBits(cmap, index), GidsFormat.SignatureKeyBits(cmap, index)));
            if (algorithm == 0)
            {
                throw new CardException(CardRefusal.Unsupported, $"Container {container} holds a key this client cannot sign with.");
            }

            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(ReadPublicKey(kid), out _);
            return SignOnCard(kid, algorithm, rsa, data, HashAlgorithmName.SHA256);
        });
    }

    /// <summary>
    /// Removes every key and certificate (Retire) once the response proves the admin key: each
    /// certificate file as gids_delete_cert removes it, each key file and its cmapfile and key map
    /// records as gids_delete_container_num does, cardcf counted up at each step. A GIDS card lets
    /// only its user delete keys, so the admin first sets the PIN to a random one nobody keeps:
    /// after a retire the PIN is unknown, and the next enrollment sets one through the admin key.
    /// </summary>
    public void ClearContainers(ReadOnlySpan<byte> response)
    {
        var pin = Encoding.ASCII.GetBytes(string.Concat(RandomNumberGenerator.GetItems("0123456789".AsSpan(), MaxPinLength)));
        try
        {
            AsAdmin(response, () =>
            {
                ResetPin(pin);
                VerifyBytes(pin);
                var masterFile = ReadMasterFile();
                var cmap = ReadContainerMap(masterFile);
                foreach (var file in GidsFormat.MasterFileRecords(masterFile).Where(IsCertificateFile).Select(r => r.Name).ToList())
                {
                    masterFile = DeleteCertificateFile(masterFile, file);
                }

                for (var i = 0; i < GidsFormat.ContainerCount(cmap); i++)
                {
                    if (GidsFormat.IsValid(cmap, i))
                    {
                        DeleteContainer(masterFile, cmap, i);
                    }
                }
            });
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        EndAdmin();
        _channel.Dispose();
    }

    private static bool IsCertificateFile(GidsFormat.FileRecord r) =>
        r.Directory == "mscp" && r.Name.Length == 5 && (r.Name.StartsWith("kxc", StringComparison.Ordinal) || r.Name.StartsWith("ksc", StringComparison.Ordinal));

    private static string CertificateFileName(byte[] cmap, int index) =>
        $"{(GidsFormat.SignatureKeyBits(cmap, index) > 0 ? "ksc" : "kxc")}{index:X2}";

    private static HashAlgorithmName HashName(string? name) => (string.IsNullOrEmpty(name) ? "SHA256" : name.ToUpperInvariant()) switch
    {
        "SHA1" => HashAlgorithmName.SHA1,
        "SHA256" => HashAlgorithmName.SHA256,
        "SHA384" => HashAlgorithmName.SHA384,
        "SHA512" => HashAlgorithmName.SHA512,
        _ => throw new CardException(CardRefusal.Unsupported, $"The card signs SHA-1 and SHA-2 digests, not {name}."),
    };

    // The PIN as the card compares it: ASCII, unpadded (OpenSC's SC_PIN_ENCODING_ASCII).
    private static byte[] PinBytes(string? pin, bool forSetting)
    {
        if (string.IsNullOrEmpty(pin) || pin.Any(c => c is < ' ' or > '~')
            || (forSetting && pin.Length is < MinPinLength or > MaxPinLength) || pin.Length > 127)
        {
            throw new CardException(CardRefusal.PinInvalid, $"A GIDS card's PIN is {MinPinLength} to {MaxPinLength} printable ASCII characters.");
        }

        return Encoding.ASCII.GetBytes(pin);
    }

    // Every call but the admin operation itself begins here: the card is held for the call, and a
    // pending challenge is void (the card's half-done authentication does not survive other commands).
    private T InTransaction<T>(Func<T> work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EndAdmin();
        using (_channel.BeginTransaction())
        {
            SelectApplication();
            return work();
        }
    }

    // The second half of gids_authenticate_admin, the operation, and the end of the transaction
    // GetChallenge began; the admin is logged out whatever happened.
    private void AsAdmin(ReadOnlySpan<byte> response, Action operation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var challenge = _challenge;
        _challenge = null;
        try
        {
            if (challenge is null || _adminTransaction is null)
            {
                throw new CardException(CardRefusal.AdminAuthenticationFailed, "No admin challenge was asked of this card for this operation.");
            }

            CryptographicOperations.ZeroMemory(challenge);
            if (response.Length != ChallengeLength)
            {
                throw new CardException(CardRefusal.AdminAuthenticationFailed, $"A GIDS admin response is {ChallengeLength} bytes, not {response.Length}.");
            }

            var answer = Send(CommandApdu.Build(0x00, 0x87, 0x00, 0x00, [0x7C, 0x2A, 0x82, 0x28, .. response], le: 256));
            if (!answer.IsSuccess)
            {
                throw new CardException(CardRefusal.AdminAuthenticationFailed, $"The card refused the admin key: status {answer.StatusWord:X4}.");
            }

            // The card's own cryptogram (R1||R2||Z2 under the key) cannot be checked without the key;
            // its shape can.
            var cryptogram = BerTlv.Require(BerTlv.Require(answer.Data, 0x7C, "the card's admin cryptogram"), 0x82, "the card's admin cryptogram");
            if (cryptogram.Length != ChallengeLength || answer.Data.Length != ChallengeLength + 4)
            {
                throw new CardException(CardRefusal.Malformed, $"The card's admin cryptogram is {answer.Data.Length} bytes, not {ChallengeLength + 4}.");
            }

            try
            {
                operation();
            }
            finally
            {
                Logout();
            }
        }
        finally
        {
            EndAdmin();
        }
    }

    private void EndAdmin()
    {
        if (_challenge is not null)
        {
            CryptographicOperations.ZeroMemory(_challenge);
            _challenge = null;
        }

        var transaction = _adminTransaction;
        _adminTransaction = null;
        transaction?.Dispose();
    }

    private ResponseApdu Send(byte[] command) => ResponseApdu.Parse(_channel.Transmit(command));

    private byte[] Expect(byte[] command, string operation, CardRefusal notAuthenticated = CardRefusal.Refused)
    {
        var answer = Send(command);
        return answer.IsSuccess ? answer.Data : throw StatusWords.ToException(answer.StatusWord, operation, notAuthenticated);
    }

    private void SelectApplication()
    {
        var answer = Send(CommandApdu.Build(0x00, 0xA4, 0x04, 0x00, ApplicationId, le: 256));
        if (!answer.IsSuccess)
        {
            throw new CardException(CardRefusal.WrongCard, $"The card has no GIDS application (SELECT answered {answer.StatusWord:X4}).");
        }
    }

    // GET DATA (00 CB fi, 5C 02 do), as gids_get_DO; null when the card has no such object.
    private byte[]? GetData(int fileIdentifier, int dataObject, string what)
    {
        var answer = Send(CommandApdu.Build(0x00, 0xCB, (byte)(fileIdentifier >> 8), (byte)fileIdentifier,
            [0x5C, 0x02, (byte)(dataObject >> 8), (byte)dataObject], le: 256));
        if (answer.StatusWord is 0x6A82 or 0x6A88)
        {
            return null;
        }

        if (!answer.IsSuccess)
        {
            throw StatusWords.ToException(answer.StatusWord, $"reading {what}");
        }

        return BerTlv.Find(answer.Data, dataObject);
    }

    // PUT DATA (00 DB fi, the object as a TLV), chained in 255-byte pieces as OpenSC sends it.
    private void PutData(int fileIdentifier, int dataObject, ReadOnlySpan<byte> data, string what, CardRefusal notAuthenticated = CardRefusal.Refused)
    {
        var body = BerTlv.Encode(dataObject, data);
        try
        {
            foreach (var command in CommandApdu.Chain(0x00, 0xDB, (byte)(fileIdentifier >> 8), (byte)fileIdentifier, body))
            {
                try
                {
                    Expect(command, $"writing {what}", notAuthenticated);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(command);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(body);
        }
    }

    private byte[] ReadMasterFile()
    {
        var masterFile = GetData(GidsFormat.MasterFileFi, GidsFormat.MasterFileDo, "the master file");
        if (masterFile is null || masterFile.Length < 1 || masterFile[0] != 1)
        {
            throw new CardException(CardRefusal.WrongCard, "The GIDS card has no minidriver file system: it was never initialized (gids-tool --initialize).");
        }

        return masterFile;
    }

    private byte[]? ReadFile(byte[] masterFile, string directory, string name) =>
        GidsFormat.Lookup(masterFile, directory, name) is { } record ? GetData(record.Fi, record.Do, $"{directory}\\{name}") : null;

    // A file's new content, after cardcf says files changed (gids_write_gidsfile).
    private void WriteFile(byte[] masterFile, string directory, string name, byte[] data)
    {
        if (data.Length > GidsFormat.MaxFileSize)
        {
            throw new CardException(CardRefusal.CardFull, $"{directory}\\{name} would exceed a GIDS file's {GidsFormat.MaxFileSize} bytes.");
        }

        var record = GidsFormat.Lookup(masterFile, directory, name)
            ?? throw new CardException(CardRefusal.WrongCard, $"The card's master file has no {directory}\\{name}.");
        UpdateCardCf(masterFile, files: true, containers: false);
        PutData(record.Fi, record.Do, data, $"{directory}\\{name}");
    }

    // cardcf tells Windows' minidriver to drop its cache: counters of container and file changes (gids_update_cardcf).
    private void UpdateCardCf(byte[] masterFile, bool files, bool containers)
    {
        var record = GidsFormat.Lookup(masterFile, "", "cardcf")
            ?? throw new CardException(CardRefusal.WrongCard, "The card's master file has no cardcf.");
        var cardcf = GetData(record.Fi, record.Do, "cardcf");
        if (cardcf is null || cardcf.Length < 6)
        {
            throw new CardException(CardRefusal.Malformed, "The card's cardcf is not the minidriver's 6 bytes.");
        }

        var updated = cardcf[..6];
        if (files)
        {
            var n = (ushort)(updated[4] | (updated[5] << 8));
            n++;
            updated[4] = (byte)n;
            updated[5] = (byte)(n >> 8);
        }

        if (containers)
        {
            var n = (ushort)(updated[2] | (updated[3] << 8));
            n++;
            updated[2] = (byte)n;
            updated[3] = (byte)(n >> 8);
        }

        PutData(record.Fi, record.Do, updated, "cardcf");
    }

    private byte[] ReadContainerMap(byte[] masterFile)
    {
        if (GidsFormat.Lookup(masterFile, "mscp", "cmapfile") is null)
        {
            throw new CardException(CardRefusal.WrongCard, "The card's master file has no mscp\\cmapfile.");
        }

        return ReadFile(masterFile, "mscp", "cmapfile") ?? [];
    }

    private static int RequireContainer(byte[] cmap, string container)
    {
        var index = GidsFormat.FindContainer(cmap, container ?? "");
        return index >= 0 ? index : throw new CardException(CardRefusal.NoSuchContainer, $"The card has no container {container}.");
    }

    // A container for a new key (gids_select_key_reference + gids_create_keyfile + gids_perform_create_keyfile):
    // the first unused slot, its cmapfile and key map records, and its key file created and activated.
    private int CreateContainer(string name, byte algorithm, int keySize)
    {
        var masterFile = ReadMasterFile();
        var cmap = ReadContainerMap(masterFile);
        var existing = GidsFormat.FindContainer(cmap, name);
        if (existing >= 0)
        {
            if (GidsFormat.Lookup(masterFile, "mscp", CertificateFileName(cmap, existing)) is not null)
            {
                masterFile = DeleteCertificateFile(masterFile, CertificateFileName(cmap, existing));
            }

            DeleteContainer(masterFile, cmap, existing);
        }

        var count = GidsFormat.ContainerCount(cmap);
        var index = Enumerable.Range(0, count).FirstOrDefault(i => !GidsFormat.IsValid(cmap, i), count);
        if (index > GidsFormat.MaxContainers)
        {
            throw new CardException(CardRefusal.CardFull, "The card holds as many key containers as GIDS allows.");
        }

        var keyMap = GetData(GidsFormat.KeyMapFi, GidsFormat.KeyMapDo, "the key map");
        if (keyMap is null || keyMap.Length == 0)
        {
            keyMap = [1];
        }
        else if ((keyMap.Length - 1) / GidsFormat.KeyMapRecordSize > count)
        {
            throw new CardException(CardRefusal.Malformed, "The card's key map names more containers than mscp\\cmapfile.");
        }

        // An enrollment pulled between reserving a cmapfile slot and writing the key map leaves the
        // key map a record short (or not there at all): unused records are added, as
        // gids_delete_container_num leaves them, so that the two agree again as OpenSC requires.
        while ((keyMap.Length - 1) / GidsFormat.KeyMapRecordSize < count)
        {
            var record = new byte[GidsFormat.KeyMapRecordSize];
            GidsFormat.WriteKeyMapRecord(record, 0, 0, 0, 0xFFFF);
            keyMap = [.. keyMap.AsSpan(0, 1 + ((keyMap.Length - 1) / GidsFormat.KeyMapRecordSize * GidsFormat.KeyMapRecordSize)), .. record];
        }

        if (index == count)
        {
            // A new slot: the cmapfile grows first (as OpenSC reserves it), the key map with it.
            cmap = [.. cmap, .. new byte[GidsFormat.ContainerRecordSize]];
            WriteFile(masterFile, "mscp", "cmapfile", cmap);
            keyMap = [.. keyMap.AsSpan(0, 1 + (count * GidsFormat.KeyMapRecordSize)), .. new byte[GidsFormat.KeyMapRecordSize]];
        }

        var kid = (byte)(GidsFormat.FirstKeyReference + index);
        var flags = (byte)(GidsFormat.ValidContainer | (count == 0 ? GidsFormat.DefaultContainer : 0));
        GidsFormat.WriteContainer(GidsFormat.ContainerRecord(cmap, index), name, flags, signatureBits: 0, keyExchangeBits: keySize);
        GidsFormat.WriteKeyMapRecord(keyMap.AsSpan(1 + (index * GidsFormat.KeyMapRecordSize), GidsFormat.KeyMapRecordSize), 1, algorithm, GidsFormat.KeyTypeKeyExchange, (ushort)(0xB000 + kid));

        // The key file as the minidriver makes it for an AT_KEYEXCHANGE key (gids_perform_create_keyfile).
        byte[] keyFile =
        [
            0x62, 0x47,
            0x82, 0x01, 0x18,
            0x83, 0x02, 0xB0, kid,
            0x8C, 0x05, 0x8F, 0x10, 0x10, 0x10, 0x00,
            0xA5, 0x37,
            0xB8, 0x09, 0x80, 0x01, algorithm, 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB8, 0x09, 0x80, 0x01, (byte)(0x80 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB8, 0x09, 0x80, 0x01, (byte)(0x40 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB6, 0x09, 0x80, 0x01, (byte)(0x10 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
            0xB6, 0x09, 0x80, 0x01, (byte)(0x50 + algorithm), 0x83, 0x01, kid, 0x95, 0x01, 0x40,
        ];
        var create = CommandApdu.Build(0x00, 0xE0, 0x00, 0x00, keyFile);
        var created = Send(create);
        if (created.StatusWord == 0x6A89)
        {
            // A key file left in an unused slot by an enrollment the card was pulled from (the key file
            // is made before the cmapfile names it): it holds nothing anyone uses, so it goes.
            Expect(CommandApdu.Build(0x00, 0xA4, 0x00, 0x0C, [0xB0, kid]), "selecting a left-over key file");
            Expect(CommandApdu.Build(0x00, 0xE4, 0x00, 0x00), "deleting a left-over key file");
            Expect(create, "creating the key file");
        }
        else if (!created.IsSuccess)
        {
            throw StatusWords.ToException(created.StatusWord, "creating the key file");
        }

        Expect(CommandApdu.Build(0x00, 0x44, 0x00, 0x00), "activating the key file");
        UpdateCardCf(masterFile, files: false, containers: true);
        PutData(GidsFormat.KeyMapFi, GidsFormat.KeyMapDo, keyMap, "the key map");
        WriteFile(masterFile, "mscp", "cmapfile", cmap);
        return index;
    }

    // gids_delete_cert: the record out of the master file, cardcf, the object emptied, the master file written.
    private byte[] DeleteCertificateFile(byte[] masterFile, string name)
    {
        var record = GidsFormat.Lookup(masterFile, "mscp", name)!.Value;
        var shrunk = GidsFormat.RemoveRecord(masterFile, record.Index);
        UpdateCardCf(masterFile, files: true, containers: false);
        PutData(record.Fi, record.Do, [], $"mscp\\{name}");
        PutData(GidsFormat.MasterFileFi, GidsFormat.MasterFileDo, shrunk, "the master file");
        return shrunk;
    }

    // gids_delete_container_num: the key file deleted, the records zeroed (the key map's keyref FFFF), cardcf, both maps written.
    private void DeleteContainer(byte[] masterFile, byte[] cmap, int index)
    {
        var keyMap = GetData(GidsFormat.KeyMapFi, GidsFormat.KeyMapDo, "the key map");
        if (keyMap is null || keyMap.Length < 1 + ((index + 1) * GidsFormat.KeyMapRecordSize))
        {
            throw new CardException(CardRefusal.Malformed, "The card's key map does not cover its containers.");
        }

        var kid = (byte)(GidsFormat.FirstKeyReference + index);
        GidsFormat.ContainerRecord(cmap, index).Clear();
        GidsFormat.WriteKeyMapRecord(keyMap.AsSpan(1 + (index * GidsFormat.KeyMapRecordSize), GidsFormat.KeyMapRecordSize), 0, 0, 0, 0xFFFF);
        Expect(CommandApdu.Build(0x00, 0xA4, 0x00, 0x0C, [0xB0, kid]), "selecting the key file");
        Expect(CommandApdu.Build(0x00, 0xE4, 0x00, 0x00), "deleting the key file");
        UpdateCardCf(masterFile, files: false, containers: true);
        PutData(GidsFormat.KeyMapFi, GidsFormat.KeyMapDo, keyMap, "the key map");
        WriteFile(masterFile, "mscp", "cmapfile", cmap);
    }

    // gids_save_certificate, once the certificate's key is found to be the container's.
    private void StoreCertificate(string container, X509Certificate2 certificate)
    {
        var masterFile = ReadMasterFile();
        var cmap = ReadContainerMap(masterFile);
        var index = RequireContainer(cmap, container);
        if (!ReadPublicKey((byte)(GidsFormat.FirstKeyReference + index)).AsSpan().SequenceEqual(certificate.PublicKey.ExportSubjectPublicKeyInfo()))
        {
            throw new CardException(CardRefusal.CertificateMismatch, $"The certificate's public key is not the key in container {container}.");
        }

        var file = CertificateFileName(cmap, index);
        if (GidsFormat.Lookup(masterFile, "mscp", file) is null)
        {
            var dataObject = GidsFormat.FreeCertificateDo(masterFile)
                ?? throw new CardException(CardRefusal.CardFull, "The card has no free data object for another certificate.");
            var grown = GidsFormat.AddRecord(masterFile, "mscp", file, dataObject, GidsFormat.CertificateFi);
            if (grown.Length > GidsFormat.MaxFileSize)
            {
                throw new CardException(CardRefusal.CardFull, "The card's master file is full.");
            }

            UpdateCardCf(masterFile, files: true, containers: false);
            PutData(GidsFormat.MasterFileFi, GidsFormat.MasterFileDo, grown, "the master file");
            masterFile = grown;
        }

        WriteFile(masterFile, "mscp", file, GidsFormat.EncodeCertificate(certificate.RawData));
    }

    // The body of gids_import_key's PUT DATA 3FFF/70: 84 key reference, A5 { 83 key type 2 (RSA),
    // 84 no encryption key, 87 SEQUENCE { version 0, n, e, d, p, q, dmp1, dmq1, iqmp } }, each part
    // as OpenSC puts it: an INTEGER holding the number's bytes without leading zeros.
    private static byte[] ImportedKey(byte kid, RSAParameters p)
    {
        static byte[] Integer(byte[]? value)
        {
            var span = (value ?? []).AsSpan();
            while (span.Length > 1 && span[0] == 0)
            {
                span = span[1..];
            }

            return BerTlv.Encode(0x02, span.IsEmpty ? [0] : span);
        }

        byte[][] parts = [[0x02, 0x01, 0x00], Integer(p.Modulus), Integer(p.Exponent), Integer(p.D), Integer(p.P), Integer(p.Q), Integer(p.DP), Integer(p.DQ), Integer(p.InverseQ)];
        var sequence = BerTlv.Encode(0x30, parts.SelectMany(x => x).ToArray());
        var value = BerTlv.Encode(0x87, sequence);
        var template = BerTlv.Encode(0xA5, [0x83, 0x01, 0x02, 0x84, 0x01, 0x00, .. value]);
        byte[] body = [0x84, 0x01, kid, .. template];
        foreach (var part in parts)
        {
            CryptographicOperations.ZeroMemory(part);
        }

        CryptographicOperations.ZeroMemory(sequence);
        CryptographicOperations.ZeroMemory(value);
        CryptographicOperations.ZeroMemory(template);
        return body;
    }

    // GET DATA 3FFF for the public part of a key (gids_read_public_key): 7F49 { 81 modulus, 82 exponent } as SubjectPublicKeyInfo.
    private byte[] ReadPublicKey(byte kid)
    {
        var answer = Expect(CommandApdu.Build(0x00, 0xCB, 0x3F, 0xFF, [0x70, 0x08, 0x84, 0x01, kid, 0xA5, 0x03, 0x7F, 0x49, 0x80], le: 256),
            "reading the public key", CardRefusal.NoSuchContainer);
        var template = BerTlv.Require(answer, 0x7F49, "the public key");
        var modulus = BerTlv.Require(template, 0x81, "the public key's modulus");
        var exponent = BerTlv.Require(template, 0x82, "the public key's exponent");
        var start = 0;
        while (start < modulus.Length - 1 && modulus[start] == 0)
        {
            start++;
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportParameters(new RSAParameters { Modulus = modulus[start..], Exponent = exponent });
            return rsa.ExportSubjectPublicKeyInfo();
        }
        catch (CryptographicException e)
        {
            throw new CardException(CardRefusal.Malformed, "The card's public key is not an RSA key.", e);
        }
    }

    // MSE SET for signature (80 algorithm|50 = PKCS#1 v1.5, 84 key) and PSO COMPUTE DIGITAL SIGNATURE
    // over the DigestInfo (gids_set_security_env + iso7816_compute_signature); the answer is checked
    // against the public key, so that nothing the card did not sign goes out as its signature.
    private byte[] SignOnCard(byte kid, byte algorithm, RSA publicKey, byte[] data, HashAlgorithmName hash)
    {
        var prefix = DigestInfo.Prefix(hash);
        var digest = CryptographicOperations.HashData(hash, data);
        Expect(CommandApdu.Build(0x00, 0x22, 0x41, 0xB6, [0x80, 0x01, (byte)(0x50 | algorithm), 0x84, 0x01, kid]), "selecting the key to sign with", CardRefusal.Refused);
        var signature = Expect(CommandApdu.Build(0x00, 0x2A, 0x9E, 0x9A, [.. prefix, .. digest], le: 256), "signing", CardRefusal.Refused);
        if (signature.Length != publicKey.KeySize / 8 || !publicKey.VerifyHash(digest, signature, hash, RSASignaturePadding.Pkcs1))
        {
            throw new CardException(CardRefusal.Malformed, "The card's signature does not verify under the container's public key.");
        }

        return signature;
    }

    private void Verify(string pin)
    {
        var bytes = PinBytes(pin, forSetting: false);
        try
        {
            VerifyBytes(bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    // VERIFY 00 20 00 80 with the PIN in ASCII (OpenSC's iso7816 pin_cmd for GIDS).
    private void VerifyBytes(byte[] pin)
    {
        var command = CommandApdu.Build(0x00, 0x20, 0x00, PinReference, pin);
        try
        {
            var answer = Send(command);
            if (answer.IsSuccess)
            {
                return;
            }

            throw answer.StatusWord switch
            {
                0x6A80 or 0x6700 or 0x6A88 => new CardException(CardRefusal.PinInvalid, $"The card does not take that PIN (status {answer.StatusWord:X4})."),
                _ => StatusWords.ToException(answer.StatusWord, "the PIN", CardRefusal.WrongPin),
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(command);
        }
    }

    // RESET RETRY COUNTER 00 2C 02 80 with the new PIN only (gids-tool --unblock, after the admin authentication).
    private void ResetPin(byte[] pin)
    {
        var command = CommandApdu.Build(0x00, 0x2C, 0x02, PinReference, pin);
        try
        {
            var answer = Send(command);
            if (!answer.IsSuccess)
            {
                throw answer.StatusWord is 0x6A80 or 0x6700
                    ? new CardException(CardRefusal.PinInvalid, $"The card does not take that PIN (status {answer.StatusWord:X4}).")
                    : StatusWords.ToException(answer.StatusWord, "setting the PIN", CardRefusal.AdminAuthenticationFailed);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(command);
        }
    }

    // VERIFY 00 20 00 82 with no data deauthenticates everyone (gids_logout). Best effort: what the
    // card confirmed before stays done whether or not the logout is answered.
    private void Logout()
    {
        try
        {
            Send(CommandApdu.Build(0x00, 0x20, 0x00, 0x82));
        }
        catch (CardException)
        {
        }
    }

    // The PIN status object 7F71 (gids_get_pin_status): tries left in 97 (or the older 9F17).
    private int ReadPinTriesLeft()
    {
        var status = GetData(GidsFormat.AppletEfid, GidsFormat.PinStatusDo, "the PIN status")
            ?? throw new CardException(CardRefusal.Malformed, "The card has no PIN status object.");
        var tries = BerTlv.Find(status, 0x97) ?? BerTlv.Find(status, 0x9F17);
        return tries is { Length: 1 } ? tries[0] : throw new CardException(CardRefusal.Malformed, "The card's PIN status holds no try counter.");
    }

    private Dictionary<string, X509Certificate2> ReadCertificates()
    {
        var masterFile = ReadMasterFile();
        var cmap = ReadContainerMap(masterFile);
        var certificates = new Dictionary<string, X509Certificate2>(StringComparer.OrdinalIgnoreCase);
        try
        {
            for (var i = 0; i < GidsFormat.ContainerCount(cmap); i++)
            {
                if (!GidsFormat.IsValid(cmap, i) || ReadFile(masterFile, "mscp", CertificateFileName(cmap, i)) is not { Length: > 0 } file)
                {
                    continue;
                }

                try
                {
                    certificates[GidsFormat.ContainerName(cmap, i)] = X509CertificateLoader.LoadCertificate(GidsFormat.DecodeCertificate(file));
                }
                catch (CryptographicException e)
                {
                    throw new CardException(CardRefusal.Malformed, $"The certificate file of container {GidsFormat.ContainerName(cmap, i)} holds no certificate.", e);
                }
            }
        }
        catch
        {
            foreach (var c in certificates.Values)
            {
                c.Dispose();
            }

            throw;
        }

        return certificates;
    }
}
