using System.Text.Json;
using OpenCM.Domain;

namespace OpenCM.Contracts;

public static partial class WireJson
{
    /// <summary>
    /// Reads a request body (its bytes, media type and size already checked) into contract
    /// <typeparamref name="T"/> per SPEC §2: one JSON object, each property once in any case,
    /// a leading UTF-8 byte order mark and trailing commas tolerated. Every fault is a
    /// ValidationFailed naming the property (or <c>body</c>); nothing else is thrown.
    /// </summary>
    public static T ReadBody<T>(ReadOnlySpan<byte> json)
        where T : class
    {
        // 1. One JSON object, each property once, before anything is read into the contract. A
        //    UTF-8 byte order mark, as Windows tools write, is not part of it.
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        CheckShape(json);

        // 2. The typed contract; its converters say what a property must be, the path says which.
        try
        {
            return JsonSerializer.Deserialize(json, TypeInfo<T>())!;
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path);
            var what = ex.Message.StartsWith("The JSON value", StringComparison.Ordinal) ? "has the wrong JSON type" : ex.Message;
            throw Invalid(field, $"'{field}' {what}.");
        }
    }

    private static void CheckShape(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Invalid("body", "The request body must be a JSON object.");
            }

            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                if (!names.Add(name))
                {
                    var shown = Text.Shown(name);
                    throw Invalid(shown, $"The property '{shown}' is given more than once.");
                }

                reader.Read();
                reader.Skip();
            }

            // Past the object's end only whitespace may follow; the reader throws on anything else.
            while (reader.Read())
            {
            }
        }
        catch (JsonException ex)
        {
            throw Invalid("body", $"The request body is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}).");
        }
        catch (InvalidOperationException)
        {
            throw Invalid("body", "The request body holds a property name that is not valid text (invalid UTF-8 or a lone surrogate).");
        }
    }

    // "$.certificaterequests[0]" or "$['Comment']" → the property as the API names it (lower case).
    private static string FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "body";
        }

        var name = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        if (name.StartsWith("['", StringComparison.Ordinal))
        {
            var end = name.IndexOf("']", StringComparison.Ordinal);
            name = end > 2 ? name[2..end] : name;
        }

        var cut = name.IndexOfAny(['.', '[']);
        return (cut > 0 ? name[..cut] : name).ToLowerInvariant();
    }

    private static OpenCmException Invalid(string field, string detail) => new(DomainError.Validation(field, detail));
}
