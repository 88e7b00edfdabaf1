using System.Globalization;
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

/// <summary>Strict enumeration parsing: a defined name (any case) or a defined number; nothing else.</summary>
public static class EnumNames
{
    public static bool TryParse<T>(string? text, out T value)
        where T : struct, Enum
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            value = (T)Enum.ToObject(typeof(T), n);
            return Enum.IsDefined(value);
        }

        return !text.Contains(',', StringComparison.Ordinal) && Enum.TryParse(text, true, out value) && Enum.IsDefined(value);
    }
}
