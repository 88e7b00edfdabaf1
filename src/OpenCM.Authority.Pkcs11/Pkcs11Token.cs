using System.Formats.Asn1;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// One logged-in token in a PKCS#11 module, with a pool of sessions sized to what the token allows
/// (CK_TOKEN_INFO ulMaxSessionCount, capped by <see cref="Pkcs11Options.MaxSessions"/>), so that
/// concurrent signing does not serialise on one session (boulder's pkcs11key.NewPool is the model).
/// When the token goes away mid-run, operations fail as Unavailable and the pool starts over
/// (find the token, open sessions, log in) on the next call, so it recovers by itself when the
/// token is back. Several keys (one per CA) can be opened from one token.
/// </summary>
public sealed class Pkcs11Token : IDisposable
{
    // Default pool size where the token sets no limit (SoftHSM: CK_EFFECTIVELY_INFINITE).
    private const int DefaultPoolSize = 16;

    private readonly Pkcs11Options _options;
    private readonly byte[] _pin;
    private readonly Module _module;
    private readonly SemaphoreSlim _gate;
    private readonly Lock _lock = new();
    private readonly Stack<PooledSession> _idle = new();
    private readonly List<PooledSession> _open = [];
    private ISlot? _slot;
    private bool _loggedIn;
    private int _epoch;
    private bool _disposed;

    private Pkcs11Token(Pkcs11Options options, byte[] pin, Module module, ISlot slot, int poolSize)
    {
        _options = options;
        _pin = pin;
        _module = module;
        _slot = slot;
        PoolSize = poolSize;
        _gate = new SemaphoreSlim(poolSize, poolSize);
    }

    /// <summary>How many sessions signing may use at once.</summary>
    public int PoolSize { get; }

    /// <summary>The token's label or slot, for messages.</summary>
    public string Description => _options.TokenDescription;

    internal Pkcs11InteropFactories Factories => _module.Factories;

    /// <summary>
    /// Loads the module, finds the token, logs in and checks one session. Everything that can be
    /// wrong with the settings (module path, token, PIN) is a <see cref="Pkcs11ConfigurationException"/>.
    /// </summary>
    public static Pkcs11Token Open(Pkcs11Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            throw new Pkcs11ConfigurationException("Ca:Pkcs11:Library is not set: name the PKCS#11 module of the HSM.");
        }

        if (string.IsNullOrWhiteSpace(options.TokenLabel) && options.SlotId is null)
        {
            throw new Pkcs11ConfigurationException("Ca:Pkcs11 needs TokenLabel or SlotId to find the token.");
        }

        if (options.MaxSessions is < 1)
        {
            throw new Pkcs11ConfigurationException("Ca:Pkcs11:MaxSessions must be at least 1.");
        }

        var pin = System.Text.Encoding.UTF8.GetBytes(options.ReadPin());
        var module = Module.Acquire(options.Library!);
        Pkcs11Token? token = null;
        try
        {
            var slot = FindSlot(module.Library, options)
                ?? throw new Pkcs11ConfigurationException($"The PKCS#11 module {options.Library} has no {options.TokenDescription} (is it initialised and present?).");
            var info = slot.GetTokenInfo();
            token = new Pkcs11Token(options, pin, module, slot, PoolSizeFor(info.MaxSessionCount, options.MaxSessions));
            var first = token.Take();
            token.Return(first);
            return token;
        }
        catch (Pkcs11Exception e) when (e.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_LEN_RANGE)
        {
            Cleanup(token, module, pin);
            throw new Pkcs11ConfigurationException($"The user PIN for {options.TokenDescription} was refused ({e.RV}); check Ca__Pkcs11__Pin or Ca:Pkcs11:PinFile.", e);
        }
        catch (Pkcs11Exception e) when (e.RV is CKR.CKR_PIN_LOCKED or CKR.CKR_PIN_EXPIRED)
        {
            Cleanup(token, module, pin);
            throw new Pkcs11ConfigurationException($"The user PIN for {options.TokenDescription} is unusable ({e.RV}); the token's security officer must reset it.", e);
        }
        catch (Pkcs11Exception e)
        {
            Cleanup(token, module, pin);
            throw new Pkcs11ConfigurationException($"{options.TokenDescription} in {options.Library} cannot be used: {e.Method} returned {e.RV}.", e);
        }
        catch
        {
            Cleanup(token, module, pin);
            throw;
        }
    }

    /// <summary>
    /// Generates a key pair inside the token: the private key is a token object, private,
    /// sensitive and not extractable, usable only to sign. Returns the public key's
    /// SubjectPublicKeyInfo (DER). Refuses a label that any object in the token already has.
    /// </summary>
    public byte[] Generate(string keyLabel, CaKeyAlgorithm algorithm)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyLabel);
        var f = Factories.ObjectAttributeFactory;
        CKM mechanism;
        List<IObjectAttribute> parameters;
        switch (algorithm)
        {
            case CaKeyAlgorithm.EcdsaP256 or CaKeyAlgorithm.EcdsaP384:
                mechanism = CKM.CKM_EC_KEY_PAIR_GEN;
                parameters = [f.Create(CKA.CKA_EC_PARAMS, CurveParameters(algorithm == CaKeyAlgorithm.EcdsaP256 ? Oids.P256 : Oids.P384))];
                break;
            case CaKeyAlgorithm.Rsa3072 or CaKeyAlgorithm.Rsa4096:
                mechanism = CKM.CKM_RSA_PKCS_KEY_PAIR_GEN;
                parameters = [f.Create(CKA.CKA_MODULUS_BITS, algorithm == CaKeyAlgorithm.Rsa3072 ? 3072UL : 4096UL), f.Create(CKA.CKA_PUBLIC_EXPONENT, new byte[] { 1, 0, 1 })];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unsupported CA key algorithm.");
        }

        return GenerateKeyPair(keyLabel, RandomNumberGenerator.GetBytes(16), mechanism, parameters, decrypt: false, key => key.ExportSubjectPublicKeyInfo());
    }

    /// <summary>
    /// Generates an RSA key pair inside the token that signs and decrypts (a SCEP RA's key, issue
    /// #24: RSA key transport opens the client's envelope): private, sensitive, not extractable,
    /// CKA_SIGN and CKA_DECRYPT. Labelled <paramref name="keyLabel"/> with CKA_ID <paramref name="id"/>
    /// on both objects; refuses a label that any object in the token already has.
    /// </summary>
    public Pkcs11Rsa GenerateRsa(string keyLabel, byte[] id, int bits = 2048)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyLabel);
        ArgumentNullException.ThrowIfNull(id);
        var f = Factories.ObjectAttributeFactory;
        return GenerateKeyPair(keyLabel, id, CKM.CKM_RSA_PKCS_KEY_PAIR_GEN, [f.Create(CKA.CKA_MODULUS_BITS, (ulong)bits), f.Create(CKA.CKA_PUBLIC_EXPONENT, new byte[] { 1, 0, 1 })], decrypt: true,
            key => new Pkcs11Rsa(this, keyLabel, ((RSA)key).ExportParameters(false)));
    }

    /// <summary>The RSA key pair labelled <paramref name="keyLabel"/>, as an <see cref="RSA"/> that signs and decrypts in the token.</summary>
    /// <exception cref="Pkcs11ConfigurationException">No such RSA private key (or its public key) in the token.</exception>
    public Pkcs11Rsa OpenRsa(string keyLabel)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyLabel);
        var publicKey = WithSession(session =>
        {
            if (session.FindKey(keyLabel, CKO.CKO_PRIVATE_KEY) is null)
            {
                throw new Pkcs11ConfigurationException($"{Description} has no private key labelled '{keyLabel}'.");
            }

            var handle = session.FindKey(keyLabel, CKO.CKO_PUBLIC_KEY)
                ?? throw new Pkcs11ConfigurationException($"{Description} has no public key labelled '{keyLabel}' beside its private key; OpenCM needs both.");
            return ReadPublicKey(session.Session, handle);
        });
        using (publicKey)
        {
            return publicKey is RSA rsa
                ? new Pkcs11Rsa(this, keyLabel, rsa.ExportParameters(false))
                : throw new Pkcs11ConfigurationException($"The key labelled '{keyLabel}' in {Description} is not an RSA key.");
        }
    }

    /// <summary>Destroys every object labelled <paramref name="keyLabel"/> (a key pair made for nothing: another node's won the race to be stored).</summary>
    public void Destroy(string keyLabel)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyLabel);
        WithSession(_ =>
        {
            using var rw = OpenSession(SessionType.ReadWrite);
            foreach (var found in rw.FindAllObjects([Factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, keyLabel)]))
            {
                rw.DestroyObject(found);
            }

            return true;
        });
    }

    /// <summary>The signature generator for the key pair labelled <paramref name="keyLabel"/>.</summary>
    /// <param name="keyLabel">The CKA_LABEL of the private and public key objects.</param>
    /// <param name="rsaPadding">For an RSA key: PKCS#1 v1.5 (default) or PSS.</param>
    /// <exception cref="Pkcs11ConfigurationException">No such private key (or its public key) in the token.</exception>
    public Pkcs11SignatureGenerator OpenKey(string keyLabel, RSASignaturePadding? rsaPadding = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyLabel);
        var publicKey = WithSession(session =>
        {
            if (session.FindKey(keyLabel, CKO.CKO_PRIVATE_KEY) is null)
            {
                throw new Pkcs11ConfigurationException($"{Description} has no private key labelled '{keyLabel}' (Ca:Pkcs11:KeyLabel).");
            }

            var handle = session.FindKey(keyLabel, CKO.CKO_PUBLIC_KEY)
                ?? throw new Pkcs11ConfigurationException($"{Description} has no public key labelled '{keyLabel}' beside its private key; OpenCM needs both.");
            return ReadPublicKey(session.Session, handle);
        });
        return new Pkcs11SignatureGenerator(this, keyLabel, publicKey, rsaPadding ?? RSASignaturePadding.Pkcs1);
    }

    // A key pair made in a read/write session (the pool's sessions are read-only): the private key a
    // token object, private, sensitive, never extractable, signing (and decrypting only when asked).
    private T GenerateKeyPair<T>(string keyLabel, byte[] id, CKM mechanism, List<IObjectAttribute> publicParameters, bool decrypt, Func<AsymmetricAlgorithm, T> result) =>
        WithSession(session =>
        {
            var f = Factories.ObjectAttributeFactory;
            if (session.Session.FindAllObjects([f.Create(CKA.CKA_LABEL, keyLabel)]).Count > 0)
            {
                throw new Pkcs11ConfigurationException($"{Description} already holds an object labelled '{keyLabel}'; a new CA key needs a new Ca:Pkcs11:KeyLabel (nothing was overwritten).");
            }

            List<IObjectAttribute> publicTemplate =
            [
                f.Create(CKA.CKA_TOKEN, true),
                f.Create(CKA.CKA_PRIVATE, false),
                f.Create(CKA.CKA_VERIFY, true),
                f.Create(CKA.CKA_LABEL, keyLabel),
                f.Create(CKA.CKA_ID, id),
                .. publicParameters,
            ];
            if (decrypt)
            {
                publicTemplate.Add(f.Create(CKA.CKA_ENCRYPT, true));
            }

            List<IObjectAttribute> privateTemplate =
            [
                f.Create(CKA.CKA_TOKEN, true),
                f.Create(CKA.CKA_PRIVATE, true),
                f.Create(CKA.CKA_SENSITIVE, true),
                f.Create(CKA.CKA_EXTRACTABLE, false),
                f.Create(CKA.CKA_SIGN, true),
                f.Create(CKA.CKA_DECRYPT, decrypt),
                f.Create(CKA.CKA_UNWRAP, false),
                f.Create(CKA.CKA_DERIVE, false),
                f.Create(CKA.CKA_LABEL, keyLabel),
                f.Create(CKA.CKA_ID, id),
            ];
            using var rw = OpenSession(SessionType.ReadWrite);
            rw.GenerateKeyPair(Factories.MechanismFactory.Create(mechanism), publicTemplate, privateTemplate, out var publicKey, out _);
            using var key = ReadPublicKey(rw, publicKey);
            return result(key);
        });

    /// <summary>The padding <see cref="Pkcs11Options.RsaPadding"/> names.</summary>
    public static RSASignaturePadding PaddingFrom(Pkcs11Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.RsaPadding.ToUpperInvariant() switch
        {
            "PKCS1" => RSASignaturePadding.Pkcs1,
            "PSS" => RSASignaturePadding.Pss,
            _ => throw new Pkcs11ConfigurationException($"Ca:Pkcs11:RsaPadding is '{options.RsaPadding}'; it is 'Pkcs1' or 'Pss'."),
        };
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a pooled, logged-in session. A failure that means the
    /// token or the session is gone discards the pool and tries once more on fresh sessions (a
    /// token that came back after a removal); if that fails too, the caller gets Unavailable.
    /// </summary>
    internal T WithSession<T>(Func<PooledSession, T> action)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _gate.Wait();
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                PooledSession? session = null;
                try
                {
                    session = Take();
                    var result = action(session);
                    Return(session);
                    return result;
                }
                catch (Pkcs11Exception e) when (TokenFailures.IsGone(e))
                {
                    Reset(session);
                    if (attempt > 0)
                    {
                        throw TokenFailures.Unavailable(Description, e);
                    }
                }
                catch (TokenAbsentException e)
                {
                    Reset(session);
                    throw TokenFailures.Unavailable(Description, e);
                }
                catch
                {
                    if (session is not null)
                    {
                        Return(session);
                    }

                    throw;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            CloseOpenSessions();
        }

        CryptographicOperations.ZeroMemory(_pin);
        _gate.Dispose();
        _module.Release();
    }

    private static void Cleanup(Pkcs11Token? token, Module module, byte[] pin)
    {
        if (token is not null)
        {
            token.Dispose();
        }
        else
        {
            CryptographicOperations.ZeroMemory(pin);
            module.Release();
        }
    }

    private static int PoolSizeFor(ulong maxSessions, int? cap)
    {
        // 0 is CK_EFFECTIVELY_INFINITE and ~0 CK_UNAVAILABLE_INFORMATION: no limit we know of.
        // A finite limit leaves one session for key generation's read/write session.
        var tokenLimit = maxSessions is 0 or ulong.MaxValue or > int.MaxValue ? int.MaxValue : Math.Max(1, (int)maxSessions - 1);
        return Math.Min(tokenLimit, cap ?? DefaultPoolSize);
    }

    private static ISlot? FindSlot(IPkcs11Library library, Pkcs11Options options)
    {
        foreach (var slot in library.GetSlotList(SlotsType.WithTokenPresent))
        {
            if (options.SlotId is { } id && slot.SlotId != id)
            {
                continue;
            }

            if (options.TokenLabel is { Length: > 0 } label)
            {
                string found;
                try
                {
                    found = slot.GetTokenInfo().Label.Trim();
                }
                catch (Pkcs11Exception e) when (TokenFailures.IsGone(e))
                {
                    // A slot whose token went away (SoftHSM answers CKR_GENERAL_ERROR for it) is not ours now.
                    continue;
                }

                if (found != label)
                {
                    continue;
                }
            }

            return slot;
        }

        return null;
    }

    private static byte[] CurveParameters(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(oid);
        return writer.Encode();
    }

    // The public key object as a .NET key (public part only), from CKA_EC_PARAMS/CKA_EC_POINT or CKA_MODULUS/CKA_PUBLIC_EXPONENT.
    private static AsymmetricAlgorithm ReadPublicKey(ISession session, IObjectHandle handle)
    {
        var type = (CKK)session.GetAttributeValue(handle, [CKA.CKA_KEY_TYPE])[0].GetValueAsUlong();
        if (type == CKK.CKK_EC)
        {
            var values = session.GetAttributeValue(handle, [CKA.CKA_EC_PARAMS, CKA.CKA_EC_POINT]);
            var oid = AsnDecoder.ReadObjectIdentifier(values[0].GetValueAsByteArray(), AsnEncodingRules.DER, out _);
            var curve = oid switch
            {
                Oids.P256 => ECCurve.NamedCurves.nistP256,
                Oids.P384 => ECCurve.NamedCurves.nistP384,
                _ => throw new CryptographicException($"The token's EC key is on curve {oid}, which OpenCM does not use."),
            };
            var point = values[1].GetValueAsByteArray();
            var coordinate = oid == Oids.P256 ? 32 : 48;

            // PKCS#11 says CKA_EC_POINT is the DER OCTET STRING of the point; some modules give the bare point.
            if (point.Length != (2 * coordinate) + 1)
            {
                point = AsnDecoder.ReadOctetString(point, AsnEncodingRules.BER, out _);
            }

            if (point.Length != (2 * coordinate) + 1 || point[0] != 0x04)
            {
                throw new CryptographicException("The token's EC public key is not an uncompressed point.");
            }

            return ECDsa.Create(new ECParameters
            {
                Curve = curve,
                Q = new ECPoint { X = point[1..(coordinate + 1)], Y = point[(coordinate + 1)..] },
            });
        }

        if (type == CKK.CKK_RSA)
        {
            var values = session.GetAttributeValue(handle, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
            return RSA.Create(new RSAParameters { Modulus = values[0].GetValueAsByteArray(), Exponent = values[1].GetValueAsByteArray() });
        }

        throw new CryptographicException($"The token's key type {type} is not one OpenCM signs with.");
    }

    private PooledSession Take()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idle.TryPop(out var idle))
            {
                return idle;
            }

            var session = new PooledSession(OpenSession(SessionType.ReadOnly), _epoch, Factories);
            _open.Add(session);
            return session;
        }
    }

    private void Return(PooledSession session)
    {
        lock (_lock)
        {
            if (!_disposed && session.Epoch == _epoch)
            {
                _idle.Push(session);
            }
        }
    }

    // Opens a session on the token (finding it again after a reset) and logs in once: login is
    // per application and token, so it covers every session (PKCS#11 v2.40 §5.6).
    private ISession OpenSession(SessionType type)
    {
        lock (_lock)
        {
            // A module may not notice a token that came back until it is initialised again
            // (SoftHSM2 keeps the lost token's slot dead): reload it, if no other handle uses it.
            _slot ??= FindSlot(_module.Library, _options)
                ?? (_module.TryReload() ? FindSlot(_module.Library, _options) : null)
                ?? throw new TokenAbsentException();
            var session = _slot.OpenSession(type);
            if (!_loggedIn)
            {
                try
                {
                    session.Login(CKU.CKU_USER, _pin);
                }
                catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
                {
                    // Another handle of this application on the same token logged in already.
                }
                catch
                {
                    session.Dispose();
                    throw;
                }

                _loggedIn = true;
            }

            return session;
        }
    }

    // Forgets every session of this pool: the token went away or our sessions with it did.
    private void Reset(PooledSession? failed)
    {
        lock (_lock)
        {
            if (failed is not null && failed.Epoch != _epoch)
            {
                // Another thread reset the pool since this session was taken.
                return;
            }

            CloseOpenSessions();
            _slot = null;
            _loggedIn = false;
            _epoch++;
        }
    }

    private void CloseOpenSessions()
    {
        foreach (var session in _open)
        {
            try
            {
                session.Session.CloseSession();
            }
            catch (Pkcs11Exception)
            {
                // Already gone with the token.
            }
        }

        _open.Clear();
        _idle.Clear();
    }

    /// <summary>A pooled session and the key handles found through it.</summary>
    internal sealed class PooledSession(ISession session, int epoch, Pkcs11InteropFactories factories)
    {
        private readonly Dictionary<(string, CKO), IObjectHandle> _keys = [];

        public ISession Session { get; } = session;

        public int Epoch { get; } = epoch;

        public IObjectHandle? FindKey(string label, CKO objectClass)
        {
            if (_keys.TryGetValue((label, objectClass), out var cached))
            {
                return cached;
            }

            var f = factories.ObjectAttributeFactory;
            var found = Session.FindAllObjects([f.Create(CKA.CKA_CLASS, objectClass), f.Create(CKA.CKA_LABEL, label)]);
            if (found.Count == 0)
            {
                return null;
            }

            return _keys[(label, objectClass)] = found[0];
        }
    }

    /// <summary>The token is not in any slot now.</summary>
    private sealed class TokenAbsentException : Exception
    {
        public TokenAbsentException()
            : base("The token is not present.")
        {
        }
    }

    /// <summary>
    /// A loaded module, shared by every token handle on it: C_Initialize once per process and
    /// C_Finalize when the last handle goes, since finalising ends every handle's sessions.
    /// </summary>
    private sealed class Module
    {
        private static readonly Dictionary<string, Module> Loaded = [];
        private static readonly Lock LoadedLock = new();
        private static bool _resolverSet;
        private readonly string _path;
        private int _references;
        private long _reloadedAt;

        private Module(string path, IPkcs11Library library, Pkcs11InteropFactories factories)
        {
            _path = path;
            Library = library;
            Factories = factories;
        }

        public IPkcs11Library Library { get; private set; }

        public Pkcs11InteropFactories Factories { get; }

        public static Module Acquire(string path)
        {
            lock (LoadedLock)
            {
                ResolveLibdl();
                if (!Loaded.TryGetValue(path, out var module))
                {
                    var factories = new Pkcs11InteropFactories();
                    IPkcs11Library library;
                    try
                    {
                        library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, path, AppType.MultiThreaded);
                    }
                    catch (Exception e) when (e is UnmanagedException or Pkcs11Exception or DllNotFoundException or IOException or BadImageFormatException)
                    {
                        throw new Pkcs11ConfigurationException($"The PKCS#11 module Ca:Pkcs11:Library={path} cannot be loaded: {e.Message}", e);
                    }

                    module = new Module(path, library, factories);
                    Loaded[path] = module;
                }

                module._references++;
                return module;
            }
        }

        // Pkcs11Interop 5.3 imports dlopen from "libdl", a name only glibc's development package
        // provides (libdl.so); a runtime system has libdl.so.2 (and glibc 2.34+ has dlopen in libc
        // itself). Resolve it to the runtime library so no -dev package is needed.
        private static void ResolveLibdl()
        {
            if (_resolverSet || !OperatingSystem.IsLinux())
            {
                return;
            }

            NativeLibrary.SetDllImportResolver(typeof(IPkcs11Library).Assembly, (name, _, _) =>
                name == "libdl" && (NativeLibrary.TryLoad("libdl.so.2", out var handle) || NativeLibrary.TryLoad("libc.so.6", out handle)) ? handle : IntPtr.Zero);
            _resolverSet = true;
        }

        /// <summary>
        /// C_Finalize and C_Initialize again, when this handle is the module's only user and the
        /// last reload is more than a second ago (a token that stays away costs one reload a second,
        /// not one per request).
        /// </summary>
        public bool TryReload()
        {
            lock (LoadedLock)
            {
                var now = Environment.TickCount64;
                if (_references != 1 || now - _reloadedAt < 1000)
                {
                    return false;
                }

                _reloadedAt = now;
                try
                {
                    Library.Dispose();
                    Library = Factories.Pkcs11LibraryFactory.LoadPkcs11Library(Factories, _path, AppType.MultiThreaded);
                    return true;
                }
                catch (Pkcs11Exception)
                {
                    return false;
                }
            }
        }

        public void Release()
        {
            lock (LoadedLock)
            {
                if (--_references == 0)
                {
                    Loaded.Remove(_path);
                    Library.Dispose();
                }
            }
        }
    }
}
