using System.Globalization;
using System.Text;

namespace OpenCM.Security.Sddl;

/// <summary>
/// Writes canonical SDDL: well-known SIDs as aliases, rights as two-letter codes in ascending bit
/// order (which reproduces the reference's <c>CCDCLCSWSDRC</c>), a hex mask when some bit has no
/// code, and never a trailing NUL.
/// </summary>
public static class SddlWriter
{
    private static readonly Dictionary<string, string> AliasBySid =
        SddlTables.WellKnown.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);

    public static string Write(SecurityDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var sb = new StringBuilder();
        if (descriptor.Owner is { } o)
        {
            sb.Append("O:").Append(WriteSid(o));
        }

        if (descriptor.Group is { } g)
        {
            sb.Append("G:").Append(WriteSid(g));
        }

        sb.Append("D:");
        if (descriptor.Dacl is null)
        {
            sb.Append("NO_ACCESS_CONTROL");
            return sb.ToString();
        }

        var acl = descriptor.Dacl;
        if (acl.Flags.HasFlag(AclFlags.Protected))
        {
            sb.Append('P');
        }

        if (acl.Flags.HasFlag(AclFlags.AutoInheritRequired))
        {
            sb.Append("AR");
        }

        if (acl.Flags.HasFlag(AclFlags.AutoInherited))
        {
            sb.Append("AI");
        }

        foreach (var ace in acl.Aces)
        {
            sb.Append('(').Append(ace.Type == AceType.AccessAllowed ? "A" : "D").Append(';');
            foreach (var (code, flag) in SddlTables.AceFlagCodes)
            {
                if (ace.Flags.HasFlag(flag))
                {
                    sb.Append(code);
                }
            }

            sb.Append(';').Append(WriteRights(ace.Mask)).Append(";;;").Append(WriteSid(ace.Sid)).Append(')');
        }

        return sb.ToString();
    }

    public static string WriteSid(Sid sid) => AliasBySid.TryGetValue(sid.Value, out var alias) ? alias : sid.Value;

    public static string WriteRights(uint mask)
    {
        var sb = new StringBuilder();
        var rest = mask;
        foreach (var (code, bit) in SddlTables.SingleBitRights)
        {
            if ((mask & bit) != 0)
            {
                sb.Append(code);
                rest &= ~bit;
            }
        }

        return rest == 0 && mask != 0 ? sb.ToString() : "0x" + mask.ToString("x", CultureInfo.InvariantCulture);
    }
}
