using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Parsing of enumeration names on the wire: by name, case-insensitively, or by number (SPEC §2).</summary>
public static class RequestTypeNames
{
    /// <summary>Request types, including the policy routes' alias TemporaryEnroll for TemporaryCards (SPEC §3).</summary>
    public static bool TryParse(string? text, out RequestType type)
    {
        if (string.Equals(text, "TemporaryEnroll", StringComparison.OrdinalIgnoreCase))
        {
            type = RequestType.TemporaryCards;
            return true;
        }

        return EnumNames.TryParse(text, out type) && type != RequestType.None;
    }
}
