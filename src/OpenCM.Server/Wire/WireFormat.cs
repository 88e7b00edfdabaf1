using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace OpenCM.Server.Wire;

/// <summary>The JSON conventions of SPEC §2.</summary>
internal static class WireFormat
{
    public const string JsonContentType = "application/json; charset=utf-8";

    /// <summary>PascalCase exactly as the DTOs declare it, in declaration order; enumerations as numbers.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // JSON for API clients, never embedded in HTML
    };

    /// <summary>UTC, ISO-8601 with Z, trailing zeros of the fraction trimmed; unset is 0001-01-01T00:00:00 without Z.</summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t
            ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture) + "Z"
            : "0001-01-01T00:00:00";
}
