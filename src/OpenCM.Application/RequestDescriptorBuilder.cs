using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>
/// Builds a new request's security descriptor from its policy (SPEC §5): owner = originator;
/// originator Read, Cancel, Abandon (+Execute without an enrollment agent); target Read
/// (+Execute without an enrollment agent, and unless the type is executed on the target's behalf); approvers Read, Approve, Deny; enrollment agents
/// Read, Execute, Abandon; CM managers everything.
/// </summary>
public static class RequestDescriptorBuilder
{
    private const uint PrintDocuments = (uint)RequestPermission.PrintDocuments; // CR: the role right
    private const uint Read = (uint)(RequestPermission.ReadProperty | RequestPermission.ReadControl);
    private const uint Everything = (uint)AccessPolicy.AllRequestRights;

    public static SecurityDescriptor Build(
        WorkflowPolicy policy, Sid originator, Sid target, Sid? managers, Sid? domain, bool targetExecutes = true)
    {
        ArgumentNullException.ThrowIfNull(policy);

        // Explicit grants come first, role denials next, role grants last. Evaluated in order,
        // a policy that denies a group a role cannot take the originator's own rights away,
        // yet still keeps that group's members from gaining the role through another group.
        var explicitGrants = new List<Ace>();
        var denies = new List<Ace>();
        var roleGrants = new List<Ace>();
        var execute = policy.EnrollAgentRequired ? 0u : (uint)RequestPermission.Execute;
        if (managers is { } m)
        {
            Merge(explicitGrants, m, Everything);
        }

        Merge(explicitGrants, originator, Read | (uint)(RequestPermission.Cancel | RequestPermission.Abandon) | execute);
        Merge(explicitGrants, target, Read | (targetExecutes ? execute : 0));
        CopyRole(policy.AuthorizedApprover, Read | (uint)(RequestPermission.Approve | RequestPermission.Deny), denies, roleGrants, domain);
        CopyRole(policy.AuthorizedEnrollmentAgent, Read | (uint)(RequestPermission.Execute | RequestPermission.Abandon), denies, roleGrants, domain);
        return new SecurityDescriptor(originator, null, new Acl(AclFlags.None, [.. explicitGrants, .. denies, .. roleGrants]));
    }

    /// <summary>The SIDs a list query may match: owner and every SID an allow entry grants a read right.</summary>
    public static IReadOnlyCollection<Sid> ReaderSids(SecurityDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (descriptor.Dacl is null)
        {
            return [Sid.Everyone];
        }

        var sids = new HashSet<Sid>();
        if (descriptor.Owner is { } o)
        {
            sids.Add(o);
        }

        foreach (var ace in descriptor.Dacl.Aces)
        {
            if (ace.Type == AceType.AccessAllowed && (GenericMapping.DirectoryObject.Map(ace.Mask) & Read) != 0)
            {
                sids.Add(ace.Sid);
            }
        }

        return sids;
    }

    /// <summary>Whether the caller holds the role a policy descriptor grants: an access check for CR (SPEC §5).</summary>
    public static bool HoldsRole(string roleDescriptor, IReadOnlySet<Sid> token, Sid? domain) =>
        AccessCheck.IsGranted(SddlParser.Parse(roleDescriptor, domain), token, PrintDocuments);

    // Each principal the role descriptor grants CR to receives `mask` on the request; a principal
    // the role descriptor denies CR keeps that denial for the same rights.
    private static void CopyRole(string roleDescriptor, uint mask, List<Ace> denies, List<Ace> grants, Sid? domain)
    {
        var role = SddlParser.Parse(roleDescriptor, domain);
        if (role.Dacl is null)
        {
            Merge(grants, Sid.Everyone, mask);
            return;
        }

        foreach (var ace in role.Dacl.Aces)
        {
            if ((ace.Flags & AceFlags.InheritOnly) != 0 || (GenericMapping.DirectoryObject.Map(ace.Mask) & PrintDocuments) == 0)
            {
                continue;
            }

            if (ace.Type == AceType.AccessAllowed)
            {
                Merge(grants, ace.Sid, mask);
            }
            else
            {
                denies.Add(new Ace(AceType.AccessDenied, AceFlags.None, mask & ~Read, ace.Sid));
            }
        }
    }

    private static void Merge(List<Ace> aces, Sid sid, uint mask)
    {
        var i = aces.FindIndex(a => a.Sid == sid);
        if (i >= 0)
        {
            aces[i] = aces[i] with { Mask = aces[i].Mask | mask };
        }
        else
        {
            aces.Add(new Ace(AceType.AccessAllowed, AceFlags.None, mask, sid));
        }
    }
}
