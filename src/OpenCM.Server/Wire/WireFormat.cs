using System.Globalization;

namespace OpenCM.Server.Wire;

/// <summary>The JSON conventions of SPEC §2 that are the server's alone (serialization itself is OpenCM.Contracts.WireJson).</summary>
internal static class WireFormat
{
    public const string JsonContentType = "application/json; charset=utf-8";

    /// <summary>UTC, ISO-8601 with Z, trailing zeros of the fraction trimmed; unset is 0001-01-01T00:00:00 without Z.</summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t
            ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture) + "Z"
            : "0001-01-01T00:00:00";
}
