namespace OpenCM.Domain;

/// <summary>
/// The standard enrollment protocols a template may allow as front-ends of its requests (issue
/// #24): EST (RFC 7030), SCEP (RFC 8894) and ACME (RFC 8555). A template allows none unless it
/// names them (docs/decisions/0014-requested-names-and-protocols.md).
/// </summary>
public enum EnrollmentProtocol
{
    Est,
    Scep,
    Acme,
}

/// <summary>The names of <see cref="EnrollmentProtocol"/>s as template files write them: est, scep, acme.</summary>
public static class EnrollmentProtocols
{
    /// <summary>The protocol named <paramref name="text"/> (any case, no number, nothing around it); false for anything else.</summary>
    public static bool TryParse(string? text, out EnrollmentProtocol protocol)
    {
        foreach (var p in Enum.GetValues<EnrollmentProtocol>())
        {
            if (string.Equals(text, Name(p), StringComparison.OrdinalIgnoreCase))
            {
                protocol = p;
                return true;
            }
        }

        protocol = default;
        return false;
    }

    /// <summary>The name a template file writes: lower case.</summary>
    public static string Name(EnrollmentProtocol protocol) => protocol switch
    {
        EnrollmentProtocol.Est => "est",
        EnrollmentProtocol.Scep => "scep",
        EnrollmentProtocol.Acme => "acme",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol)),
    };
}
