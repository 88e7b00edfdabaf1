using System.Globalization;

namespace OpenCM.Security.Sddl;

/// <summary>A Windows security identifier in its string form, e.g. <c>S-1-5-21-1-2-3-1001</c>.</summary>
public readonly record struct Sid
{
    private Sid(string value) => Value = value;

    public string Value { get; }

    public static readonly Sid Everyone = new("S-1-1-0");
    public static readonly Sid AuthenticatedUsers = new("S-1-5-11");
    public static readonly Sid LocalSystem = new("S-1-5-18");
    public static readonly Sid Administrators = new("S-1-5-32-544");
    public static readonly Sid OwnerRights = new("S-1-3-4");

    /// <summary>Parses <c>S-R-I-S…</c>; the revision must be 1 and every part a number.</summary>
    public static bool TryParse(string? text, out Sid sid)
    {
        sid = default;
        if (string.IsNullOrEmpty(text) || text.Length < 5 || (text[0] != 'S' && text[0] != 's') || text[1] != '-')
        {
            return false;
        }

        var parts = text[2..].Split('-');
        if (parts.Length < 2 || parts.Length > 17 || parts[0] != "1")
        {
            return false;
        }

        for (var i = 1; i < parts.Length; i++)
        {
            var p = parts[i];
            if (p.Length == 0 || p.Length > 20 || !p.All(char.IsAsciiDigit))
            {
                return false;
            }

            var limit = i == 1 ? 0xFFFFFFFFFFFFUL : uint.MaxValue;
            if (!ulong.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > limit)
            {
                return false;
            }
        }

        sid = new Sid("S-" + string.Join('-', parts.Select(p => ulong.Parse(p, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture))));
        return true;
    }

    public static Sid Parse(string text) =>
        TryParse(text, out var sid) ? sid : throw new FormatException($"'{text}' is not a security identifier.");

    /// <summary>The SID of <paramref name="rid"/> inside the domain <paramref name="domain"/>.</summary>
    public static Sid InDomain(Sid domain, uint rid) => new($"{domain.Value}-{rid.ToString(CultureInfo.InvariantCulture)}");

    public override string ToString() => Value ?? "";
}
