using OpenCM.Domain;

namespace OpenCM.Server.Portal;

/// <summary>One revocation reason as a form offers it: the value the request carries, and what a person reads.</summary>
public sealed record RevocationReasonChoice(string Value, string Label);

/// <summary>
/// The RFC 5280 (§5.3.1) reasons a Revoke request may name, as the portal offers them in a list
/// (issue #23.13) rather than typed in camelCase: each value is the name the request's
/// "Revocation Reason" item carries (<see cref="ProfileRules.RevocationReason"/> reads it), each
/// label plain words. 7 is unused, 2 (cACompromise) and 10 (aACompromise) are the CA's, and 8
/// (removeFromCRL) is not a reason to revoke: none is offered.
/// </summary>
public static class RevocationReasons
{
    public static IReadOnlyList<RevocationReasonChoice> All { get; } =
    [
        new("unspecified", "No particular reason"),
        new("keyCompromise", "The private key was lost or exposed (key compromise)"),
        new("affiliationChanged", "The person changed role or organisation (affiliation changed)"),
        new("superseded", "Replaced by a newer certificate (superseded)"),
        new("cessationOfOperation", "No longer needed (cessation of operation)"),
        new("certificateHold", "Suspend for now, can be reinstated (certificate hold)"),
        new("privilegeWithdrawn", "The right to hold it was withdrawn (privilege withdrawn)"),
    ];

    /// <summary>Whether a policy's data item is the revocation reason (named as <see cref="ProfileRules.RevocationReasonItem"/>, in any case).</summary>
    public static bool IsReasonItem(string name) => string.Equals(name, ProfileRules.RevocationReasonItem, StringComparison.OrdinalIgnoreCase);
}
