using System.Text.Json;
using Microsoft.Net.Http.Headers;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Server.Wire;

/// <summary>
/// Reads request bodies into the typed contracts of OpenCM.Contracts per SPEC §2:
/// application/json only (415), at most 1 MiB (413), one JSON object whose property names are
/// matched case-insensitively and given once, and every fault a 400 naming its property.
/// </summary>
internal static class WireBody
{
    public const int MaxBytes = 1024 * 1024;

    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken ct)
        where T : class
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

        // 3. One JSON object, each property once (in any case), before anything is read into the
        //    contract. A UTF-8 byte order mark, as Windows tools write, is not part of it.
        var json = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (json.Span.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        CheckShape(json.Span);

        // 4. The typed contract; its converters say what a property must be, the path says which.
        try
        {
            return JsonSerializer.Deserialize(json.Span, WireJson.TypeInfo<T>())!;
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path);
            var what = ex.Message.StartsWith("The JSON value", StringComparison.Ordinal) ? "has the wrong JSON type" : ex.Message;
            throw Fail(ErrorKind.ValidationFailed, field, $"'{field}' {what}.");
        }
    }

    private static void CheckShape(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Fail(ErrorKind.ValidationFailed, "body", "The request body must be a JSON object.");
            }

            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                if (!names.Add(name))
                {
                    throw Fail(ErrorKind.ValidationFailed, name, $"The property '{name}' is given more than once.");
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
            throw Fail(ErrorKind.ValidationFailed, "body", $"The request body is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}).");
        }
        catch (InvalidOperationException)
        {
            throw Fail(ErrorKind.ValidationFailed, "body", "The request body holds a property name that is not valid text (invalid UTF-8 or a lone surrogate).");
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

    private static OpenCmException TooLarge() => Fail(ErrorKind.PayloadTooLarge, null, $"The request body exceeds {MaxBytes} bytes.");

    private static OpenCmException Fail(ErrorKind kind, string? field, string detail) => new(new DomainError(kind, detail, field));
}
