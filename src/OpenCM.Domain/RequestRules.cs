using System.Text.RegularExpressions;

namespace OpenCM.Domain;

/// <summary>What a valid creation input yields after the policy's defaults are applied.</summary>
public sealed record ValidatedCreation(IReadOnlyList<DataItem> DataCollection, int Priority, string Comment, bool IsDataCollectionComplete);

/// <summary>Validation of a new request against its workflow policy (SPEC §6).</summary>
public static class RequestRules
{
    public const int MinPriority = 0;
    public const int MaxPriority = 255;
    private static readonly TimeSpan RegexBudget = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Checks the data collection, comment and priority of a new request against
    /// <paramref name="policy"/>. Each failure names the offending item. Text longer than
    /// <paramref name="limits"/> (the defaults when null) is refused before anything else is looked at.
    /// </summary>
    public static (ValidatedCreation? Value, DomainError? Error) Validate(
        WorkflowPolicy policy, IReadOnlyList<DataItem> data, string? comment, int? priority, TextLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(data);

        // 0. The caps on free text (issue #18.1), whatever the policy collects.
        limits ??= TextLimits.Default;
        if ((limits.CheckDataCollection(data) ?? limits.CheckComment("comment", comment)) is { } tooLong)
        {
            return (null, tooLong);
        }

        // 1. Every given item is one the policy collects, given once.
        var byName = new Dictionary<string, DataItem>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in data)
        {
            var known = policy.PolicyDataCollection.FirstOrDefault(p => string.Equals(p.Name, item.Name, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                return Fail(item.Name, $"The policy does not collect a data item named '{item.Name}'.");
            }

            if (!byName.TryAdd(known.Name, item with { Name = known.Name }))
            {
                return Fail(known.Name, $"The data item '{known.Name}' is given more than once.");
            }
        }

        // 2. Required items are present and every value matches its validation pattern.
        var items = new List<DataItem>(policy.PolicyDataCollection.Count);
        foreach (var p in policy.PolicyDataCollection)
        {
            byName.TryGetValue(p.Name, out var given);
            var value = given?.Value;
            if (string.IsNullOrEmpty(value))
            {
                if (p.Required)
                {
                    return Fail(p.Name, $"The data item '{p.Name}' is required.");
                }
            }
            else if (!string.IsNullOrEmpty(p.ValidationData) && !Matches(p.ValidationData, value))
            {
                return Fail(p.Name, $"The value of '{p.Name}' does not have the required form.");
            }

            items.Add(new DataItem(p.Name, string.IsNullOrEmpty(value) ? null : value));
        }

        // 3. Priority only where collected, and within 0..255.
        int effectivePriority = policy.DefaultRequestPriority;
        if (priority is { } pr)
        {
            if (!policy.CollectRequestPriority)
            {
                return Fail("priority", "The policy does not collect a request priority.");
            }

            if (pr is < MinPriority or > MaxPriority)
            {
                return Fail("priority", $"The priority must be between {MinPriority} and {MaxPriority}.");
            }

            effectivePriority = pr;
        }

        // 4. A comment only where collected.
        var text = comment ?? "";
        if (text.Length > 0 && !policy.CollectComments)
        {
            return Fail("comment", "The policy does not collect comments; send an empty comment.");
        }

        return (new ValidatedCreation(items, effectivePriority, text, true), null);
    }

    private static (ValidatedCreation?, DomainError?) Fail(string field, string detail) =>
        (null, DomainError.Validation(field, detail));

    private static bool Matches(string pattern, string value)
    {
        try
        {
            return Regex.IsMatch(value, $"^(?:{pattern})$", RegexOptions.CultureInvariant, RegexBudget);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }
}
