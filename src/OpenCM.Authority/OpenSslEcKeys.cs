using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OpenCM.Authority;

/// <summary>
/// A CSR's P-256 or P-384 key from its uncompressed point through OpenSSL's own point decoder
/// (issue #25, decision 3). On .NET 10 with OpenSSL 3, every managed import (SubjectPublicKeyInfo
/// or <see cref="ECParameters"/>) builds the key through OpenSSL 3's provider import and a full
/// public key check, about 85 µs of CPU, more than the signature verification; the point decoder
/// (<c>EC_KEY_new_by_curve_name</c> + <c>o2i_ECPublicKey</c>) takes about 10. Both refuse a point
/// whose coordinates are not below the field prime or that is not on the curve; the full check's
/// further test (the order times the point is infinity) holds for every point on a curve of
/// cofactor 1, as P-256 and P-384 are (SEC 2 §2.4.2, §2.5.1), and the point at infinity has no
/// uncompressed encoding.
/// </summary>
/// <remarks>
/// Only the canonical encoding takes this path: <c>04 || X || Y</c> with each coordinate as long
/// as the field (SEC 1 §2.3.3). For anything else <see cref="TryImport"/> returns null and the
/// caller imports through .NET as before, so that compressed and hybrid points, lengths .NET
/// refuses and the zero-padded coordinates it accepts are decided exactly as they were. Off
/// Linux, or when the libcrypto .NET loaded is not the one this class finds, it is never used.
/// </remarks>
internal static partial class OpenSslEcKeys
{
    private const string Library = "libcrypto.so.3";

    // The curve's NID (OpenSSL's obj_mac.h: prime256v1 415, secp384r1 715), asked of OpenSSL once; 0 when the path is off.
    private static readonly (int P256, int P384) Nids = Probe();

    /// <summary>Whether keys are imported through OpenSSL's point decoder in this process.</summary>
    public static bool Available => Nids.P256 != 0;

    /// <summary>
    /// The key of <paramref name="point"/> on <paramref name="curveOid"/>, or null when this path
    /// does not apply (see the remarks). A canonical point OpenSSL refuses (not on the curve, a
    /// coordinate not below the prime) throws <see cref="CryptographicException"/>, as .NET's import did.
    /// </summary>
    public static ECDsa? TryImport(string curveOid, ReadOnlySpan<byte> point)
    {
        var (nid, fieldBytes) = curveOid switch
        {
            Oids.P256 => (Nids.P256, 32),
            Oids.P384 => (Nids.P384, 48),
            _ => (0, 0),
        };
        if (nid == 0 || point.Length != 1 + (2 * fieldBytes) || point[0] != 0x04 || !OperatingSystem.IsLinux())
        {
            return null;
        }

        var key = EC_KEY_new_by_curve_name(nid);
        if (key == 0)
        {
            ERR_clear_error();
            throw new CryptographicException("OpenSSL could not make an EC key.");
        }

        try
        {
            unsafe
            {
                fixed (byte* start = point)
                {
                    var cursor = start;
                    if (o2i_ECPublicKey(&key, &cursor, point.Length) == 0)
                    {
                        // Leave no error behind for .NET's next OpenSSL call on this thread.
                        ERR_clear_error();
                        throw new CryptographicException("The public key is not a point on its curve.");
                    }
                }
            }

            // .NET takes its own reference to the EC_KEY; ours is released below.
            return new ECDsaOpenSsl(key);
        }
        finally
        {
            EC_KEY_free(key);
        }
    }

    private static (int, int) Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (0, 0);
        }

        try
        {
            // The same library as .NET's: same version number, so the EC_KEY handed over is one .NET's OpenSSL understands.
            if ((long)OpenSSL_version_num() != SafeEvpPKeyHandle.OpenSslVersion)
            {
                return (0, 0);
            }

            var p256 = OBJ_txt2nid(Oids.P256);
            var p384 = OBJ_txt2nid(Oids.P384);
            return p256 != 0 && p384 != 0 ? (p256, p384) : (0, 0);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return (0, 0);
        }
    }

    [LibraryImport(Library)]
    private static partial nuint OpenSSL_version_num();

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OBJ_txt2nid(string text);

    [LibraryImport(Library)]
    private static partial nint EC_KEY_new_by_curve_name(int nid);

    [LibraryImport(Library)]
    private static unsafe partial nint o2i_ECPublicKey(nint* key, byte** input, nint length);

    [LibraryImport(Library)]
    private static partial void EC_KEY_free(nint key);

    [LibraryImport(Library)]
    private static partial void ERR_clear_error();
}
