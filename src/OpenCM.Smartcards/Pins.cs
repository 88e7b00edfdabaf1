using System.Security.Cryptography;

namespace OpenCM.Smartcards;

/// <summary>Server-proposed PINs (SPEC §8): decimal digits from the CSPRNG, as long as the policy says.</summary>
public static class Pins
{
    /// <summary>Bounds any policy's PIN length must keep (the Base CSP's PIN is 4 to 127 characters).</summary>
    public const int MinLength = 4;

    public const int MaxLength = 127;

    /// <summary>A PIN of <paramref name="length"/> digits; each digit uniform and independent.</summary>
    public static string Propose(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, MinLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxLength);
        return string.Create(length, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('0' + RandomNumberGenerator.GetInt32(10));
            }
        });
    }
}
