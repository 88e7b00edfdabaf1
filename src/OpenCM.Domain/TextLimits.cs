using System.Globalization;
using System.Text;

namespace OpenCM.Domain;

/// <summary>
/// The caps on free text a client controls (issue #18.1; docs/security.md, docs/compat.md). Without
/// them only the 1 MiB body bounded a comment or a data item, and pages of such requests took the
/// server to gigabytes. Lengths are UTF-8 bytes, as the text is stored and sent. The use cases
/// check them first, before any lookup, so an oversized field is refused alike on the API and the
/// portal (400 ValidationFailed naming the field and stating the limit).
/// </summary>
public sealed class TextLimits
{
    public const int DefaultCommentBytes = 4096;
    public const int DefaultDataValueBytes = 1024;
    public const int DefaultDataItems = 64;
    public const int DefaultDataNameBytes = 256;

    /// <summary>The defaults: 4 KiB per comment, 1 KiB per data item value, 64 data items, 256-byte item names.</summary>
    public static TextLimits Default { get; } = new();

    /// <summary>A request's comment, and an approver's comment on a vote.</summary>
    public int CommentBytes { get; set; } = DefaultCommentBytes;

    /// <summary>One data-collection value.</summary>
    public int DataValueBytes { get; set; } = DefaultDataValueBytes;

    /// <summary>How many data items one request may carry.</summary>
    public int DataItems { get; set; } = DefaultDataItems;

    /// <summary>One data item's name.</summary>
    public int DataNameBytes { get; set; } = DefaultDataNameBytes;

    /// <summary>Refuses a comment longer than <see cref="CommentBytes"/>; null when it fits.</summary>
    public DomainError? CheckComment(string field, string? text) => Check(field, "comment", text, CommentBytes);

    /// <summary>Refuses a data collection with too many items, a name or a value too long; null when it fits.</summary>
    public DomainError? CheckDataCollection(IReadOnlyList<DataItem> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var maxItems = Positive(DataItems, DefaultDataItems);
        if (data.Count > maxItems)
        {
            return DomainError.Validation("datacollection", string.Create(CultureInfo.InvariantCulture,
                $"The data collection has {data.Count} items; the limit is {maxItems}."));
        }

        for (var i = 0; i < data.Count; i++)
        {
            var item = data[i];
            var name = string.Create(CultureInfo.InvariantCulture, $"datacollection[{i}].name");
            if (Check(name, "data item name", item.Name, DataNameBytes) is { } badName)
            {
                return badName;
            }

            // The item's own name is the field, as every other refusal of a data item says.
            if (Check(item.Name, $"value of '{item.Name}'", item.Value, DataValueBytes) is { } badValue)
            {
                return badValue;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="text"/> is longer than <paramref name="limit"/> UTF-8 bytes; counts no further than needed.</summary>
    public static bool Exceeds(string? text, int limit)
    {
        if (string.IsNullOrEmpty(text) || text.Length * 3L <= limit)
        {
            return false;
        }

        // A UTF-16 unit is at least one UTF-8 byte, so a longer string needs no counting.
        return text.Length > limit || Encoding.UTF8.GetByteCount(text) > limit;
    }

    private static DomainError? Check(string field, string what, string? text, int configured)
    {
        var limit = Positive(configured, 1);
        return Exceeds(text, limit)
            ? DomainError.Validation(field, string.Create(CultureInfo.InvariantCulture, $"The {what} is longer than the limit of {limit} bytes (UTF-8)."))
            : null;
    }

    private static int Positive(int value, int fallback) => value > 0 ? value : fallback;
}
