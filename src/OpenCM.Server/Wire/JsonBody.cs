using System.Globalization;
using System.Text.Json;
using Microsoft.Net.Http.Headers;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Wire;

/// <summary>
/// Reads request bodies per SPEC §2: application/json only (415), at most 1 MiB (413), property
/// names matched case-insensitively, enumerations by name or number, and every fault named.
/// </summary>
internal sealed class JsonBody
{
    public const int MaxBytes = 1024 * 1024;
    private readonly Dictionary<string, JsonElement> _properties;

    private JsonBody(Dictionary<string, JsonElement> properties) => _properties = properties;

    public static async Task<JsonBody> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        // 1. Media type.
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media) ||
            !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw Fail(ErrorKind.UnsupportedMediaType, null, "The request body must be application/json.");
        }

        // 2. Size: refuse a declared length early, and count what actually arrives.
        if (request.ContentLength > MaxBytes)
        {
            throw TooLarge();
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBytes)
            {
                throw TooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        // 3. A JSON object.
        try
        {
            using var doc = JsonDocument.Parse(buffer.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Fail(ErrorKind.ValidationFailed, "body", "The request body must be a JSON object.");
            }

            var props = new Dictionary<string, JsonElement>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!props.TryAdd(p.Name, p.Value.Clone()))
                {
                    throw Fail(ErrorKind.ValidationFailed, p.Name, $"The property '{p.Name}' is given more than once.");
                }
            }

            return new JsonBody(props);
        }
        catch (JsonException ex)
        {
            throw Fail(ErrorKind.ValidationFailed, "body", $"The request body is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}).");
        }
    }

    public bool Has(string name) => _properties.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public string? String(string name)
    {
        if (!_properties.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Invalid(name, "must be a string");
    }

    public Guid? Guid(string name)
    {
        var text = String(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return System.Guid.TryParse(text.Trim(), out var id) ? id : throw Invalid(name, "must be a GUID");
    }

    /// <summary>An array of strings; absent is empty.</summary>
    public IReadOnlyList<string> Strings(string name)
    {
        if (!_properties.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(name, "must be an array of strings");
        }

        return [.. v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Invalid(name, "must be an array of strings"))];
    }

    /// <summary>An integer given as a JSON number or a numeric string (the reference sends "4").</summary>
    public int? Int(string name)
    {
        if (!_properties.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.Number when v.TryGetInt32(out var n) => n,
            JsonValueKind.String when int.TryParse(v.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => n,
            _ => throw Invalid(name, "must be an integer"),
        };
    }

    /// <summary>An enumeration by name (any case) or number; unknown names are refused, never mapped to a default.</summary>
    public T? Enum<T>(string name)
        where T : struct, System.Enum
    {
        if (!_properties.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var text = v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => null,
        };
        return EnumNames.TryParse<T>(text, out var value)
            ? value
            : throw Invalid(name, $"'{text ?? v.GetRawText()}' is not a {typeof(T).Name}");
    }

    /// <summary>
    /// The data collection: a JSON array of single-pair objects, the same inside a JSON string (the
    /// reference sends "[]"), or the response form [{"Name":…,"Value":…}].
    /// </summary>
    public IReadOnlyList<DataItem> DataCollection(string name)
    {
        if (!_properties.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        var array = v;
        if (v.ValueKind == JsonValueKind.String)
        {
            var text = v.GetString();
            if (string.IsNullOrWhiteSpace(text))
            {
                return [];
            }

            try
            {
                using var inner = JsonDocument.Parse(NormalizeQuotes(text));
                array = inner.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw Invalid(name, "is a string that does not hold a JSON array");
            }
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(name, "must be an array of name/value objects");
        }

        var items = new List<DataItem>();
        foreach (var element in array.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(name, "must be an array of name/value objects");
            }

            var pairs = element.EnumerateObject().ToList();
            if (pairs.Count == 2 && pairs.Any(p => p.Name.Equals("Name", StringComparison.OrdinalIgnoreCase)) &&
                pairs.Any(p => p.Name.Equals("Value", StringComparison.OrdinalIgnoreCase)))
            {
                var itemName = pairs.First(p => p.Name.Equals("Name", StringComparison.OrdinalIgnoreCase)).Value;
                var itemValue = pairs.First(p => p.Name.Equals("Value", StringComparison.OrdinalIgnoreCase)).Value;
                items.Add(new DataItem(itemName.ValueKind == JsonValueKind.String ? itemName.GetString()! : throw Invalid(name, "item names must be strings"), Scalar(name, itemValue)));
            }
            else if (pairs.Count == 1)
            {
                items.Add(new DataItem(pairs[0].Name, Scalar(name, pairs[0].Value)));
            }
            else
            {
                throw Invalid(name, "items must each hold one name/value pair");
            }
        }

        return items;
    }

    private static string? Scalar(string field, JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Null => null,
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => throw Invalid(field, "values must be strings"),
    };

    // The walkthrough's sample body carries typographic quotes inside the string ("[{“Request Reason”:”Need VPN Certs”}]").
    private static string NormalizeQuotes(string text) => text.Replace('“', '"').Replace('”', '"');

    private static OpenCmException Invalid(string field, string what) => Fail(ErrorKind.ValidationFailed, field, $"'{field}' {what}.");

    private static OpenCmException TooLarge() => Fail(ErrorKind.PayloadTooLarge, null, $"The request body exceeds {MaxBytes} bytes.");

    private static OpenCmException Fail(ErrorKind kind, string? field, string detail) => new(new DomainError(kind, detail, field));
}
