using System.Globalization;

namespace OpenCM.Domain;

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
