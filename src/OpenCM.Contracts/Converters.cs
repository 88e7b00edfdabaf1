using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using OpenCM.Domain;

namespace OpenCM.Contracts;

// Converters for the wire's lenient-but-strict reading (SPEC §2). Each refuses with a
// JsonException whose message says what the property must be; the reader names the property.

/// <summary>A string, or null; anything else is refused (a number is not silently a string).</summary>
public sealed class StrictStringConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String => Text.Of(ref reader),
        _ => throw new JsonException("must be a string"),
    };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}

/// <summary>A GUID in any of .NET's text forms (braces, upper case); blank is absent.</summary>
public sealed class GuidTextConverter : JsonConverter<Guid?>
{
    public override Guid? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        var text = reader.TokenType == JsonTokenType.String ? Text.Of(ref reader) : throw new JsonException("must be a GUID");
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return Guid.TryParse(text.Trim(), out var id) ? id : throw new JsonException("must be a GUID");
    }

    public override void Write(Utf8JsonWriter writer, Guid? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } id)
        {
            writer.WriteStringValue(id);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>An integer as a JSON number or a numeric string (the reference sends <c>"4"</c>).</summary>
public sealed class IntegerOrStringConverter : JsonConverter<int?>
{
    public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.Number when reader.TryGetInt32(out var n) => n,
        JsonTokenType.String when int.TryParse(Text.Of(ref reader), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => n,
        _ => throw new JsonException("must be an integer"),
    };

    public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } n)
        {
            writer.WriteNumberValue(n);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>An enumeration by name (any case) or number; unknown names are refused, never mapped to a default.</summary>
public sealed class StrictEnumConverter<T> : JsonConverter<T?>
    where T : struct, Enum
{
    // The wire's name of the enumeration (WireRequestType is "RequestType"), for the refusals.
    private static readonly string Name = typeof(T).GetCustomAttributes(typeof(WireNameAttribute), false) is [WireNameAttribute a, ..] ? a.Name : typeof(T).Name;

    public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string text;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                text = Text.Of(ref reader);
                break;
            case JsonTokenType.Number:
                text = reader.TryGetInt64(out var n) ? n.ToString(CultureInfo.InvariantCulture) : "number";
                break;
            default:
                throw new JsonException($"must be a {Name} name or number");
        }

        return EnumNames.TryParse<T>(text, out var value) ? value : throw new JsonException($"'{Text.Shown(text)}' is not a {Name}");
    }

    public override void Write(Utf8JsonWriter writer, T? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } v)
        {
            writer.WriteStringValue(v.ToString());
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>An array of strings; null is absent.</summary>
public sealed class StringListConverter : JsonConverter<IReadOnlyList<string>?>
{
    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("must be an array of strings");
        }

        var items = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            items.Add(reader.TokenType == JsonTokenType.String ? Text.Of(ref reader) : throw new JsonException("must be an array of strings"));
        }

        return items;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string>? value, JsonSerializerOptions options) =>
        JsonArrays.Write(writer, value, static (w, item) => w.WriteStringValue(item));
}

/// <summary>
/// The data collection in its three forms: a JSON array of single-pair objects, the same inside a
/// JSON string (the reference sends <c>"[]"</c>, and its walkthrough typographic quotes), or the
/// response form <c>[{"Name":…,"Value":…}]</c>.
/// </summary>
public sealed class DataCollectionConverter : JsonConverter<IReadOnlyList<DataItemDto>?>
{
    public override IReadOnlyList<DataItemDto>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        using var document = reader.TokenType == JsonTokenType.String ? Inner(Text.Of(ref reader)) : JsonDocument.ParseValue(ref reader);
        if (document is null)
        {
            return [];
        }

        var array = document.RootElement;
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("must be an array of name/value objects");
        }

        var items = new List<DataItemDto>();
        foreach (var element in array.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("must be an array of name/value objects");
            }

            var pairs = element.EnumerateObject().ToList();
            var name = pairs.Find(p => p.Name.Equals("Name", StringComparison.OrdinalIgnoreCase));
            var value = pairs.Find(p => p.Name.Equals("Value", StringComparison.OrdinalIgnoreCase));
            if (pairs.Count == 2 && name.Value.ValueKind != JsonValueKind.Undefined && value.Value.ValueKind != JsonValueKind.Undefined)
            {
                items.Add(new DataItemDto(name.Value.ValueKind == JsonValueKind.String ? name.Value.GetString()! : throw new JsonException("item names must be strings"), Scalar(value.Value)));
            }
            else if (pairs.Count == 1)
            {
                items.Add(new DataItemDto(pairs[0].Name, Scalar(pairs[0].Value)));
            }
            else
            {
                throw new JsonException("items must each hold one name/value pair");
            }
        }

        return items;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<DataItemDto>? value, JsonSerializerOptions options) =>
        JsonArrays.Write(writer, value, static (w, item) =>
        {
            w.WriteStartObject();
            w.WriteString("Name", item.Name);
            w.WriteString("Value", item.Value);
            w.WriteEndObject();
        });

    // The array inside a string; blank is an empty collection.
    private static JsonDocument? Inner(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            // The walkthrough's sample body carries typographic quotes inside the string ("[{“Request Reason”:”Need VPN Certs”}]").
            return JsonDocument.Parse(text.Replace('“', '"').Replace('”', '"'));
        }
        catch (JsonException)
        {
            throw new JsonException("is a string that does not hold a JSON array");
        }
    }

    private static string? Scalar(JsonElement value)
    {
        try
        {
            return value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Null => null,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                _ => throw new JsonException("values must be strings"),
            };
        }
        catch (InvalidOperationException)
        {
            throw new JsonException("is not valid text (invalid UTF-8 or a lone surrogate)");
        }
    }

    /// <summary>
    /// Client text as an error message quotes it: at most 64 characters, then "…". A refusal
    /// never sends back a megabyte a client sent (issue #18.1).
    /// </summary>
    public static string Shown(string text)
    {
        const int max = 64;
        if (text.Length <= max)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[max - 1]) ? max - 1 : max;
        return string.Concat(text.AsSpan(0, cut), "…");
    }
}

/// <summary>String tokens as text; invalid UTF-8 or a lone surrogate is refused as input, not a fault of the server.</summary>
internal static class Text
{
    public static string Of(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new JsonException("is not valid text (invalid UTF-8 or a lone surrogate)");
        }
    }

    /// <summary>
    /// Client text as an error message quotes it: at most 64 characters, then "…". A refusal
    /// never sends back a megabyte a client sent (issue #18.1).
    /// </summary>
    public static string Shown(string text)
    {
        const int max = 64;
        if (text.Length <= max)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[max - 1]) ? max - 1 : max;
        return string.Concat(text.AsSpan(0, cut), "…");
    }
}

/// <summary>A list written as a JSON array (null as null), each item by <paramref name="item"/>.</summary>
internal static class JsonArrays
{
    public static void Write<T>(Utf8JsonWriter writer, IReadOnlyList<T>? value, Action<Utf8JsonWriter, T> item)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(item);
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        writer.WriteStartArray();
        foreach (var element in value)
        {
            item(writer, element);
        }

        writer.WriteEndArray();
    }
}
