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

        // 3. The typed contract, every fault a 400 naming what was wrong (WireJson.ReadBody).
        return WireJson.ReadBody<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private static OpenCmException TooLarge() => Fail(ErrorKind.PayloadTooLarge, null, $"The request body exceeds {MaxBytes} bytes.");

    private static OpenCmException Fail(ErrorKind kind, string? field, string detail) => new(new DomainError(kind, detail, field));
}
