using System.Globalization;

namespace OpenCM.Server.Wire;

/// <summary>The JSON conventions of SPEC §2 that are the server's alone (serialization itself is OpenCM.Contracts.WireJson).</summary>
internal static class WireFormat
{
    public const string JsonContentType = "application/json; charset=utf-8";

    /// <summary>
    /// UTC, ISO-8601 with Z, at most milliseconds with trailing zeros trimmed, as the reference
    /// writes them (<c>2015-07-07T23:36:21.93Z</c>; strptime-based clients break on more digits);
    /// unset is 0001-01-01T00:00:00 without Z.
    /// </summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t
            ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFF", CultureInfo.InvariantCulture) + "Z"
            : "0001-01-01T00:00:00";
}
