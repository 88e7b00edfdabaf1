namespace OpenCM.Security.Sddl;

/// <summary>How generic rights map to specific ones. The default is the directory-object mapping.</summary>
public sealed record GenericMapping(uint Read, uint Write, uint Execute, uint All)
{
    public const uint GenericRead = 0x80000000;
    public const uint GenericWrite = 0x40000000;
    public const uint GenericExecute = 0x20000000;
    public const uint GenericAll = 0x10000000;

    /// <summary>Active Directory's mapping: GR = RC|LC|RP, GW = RC|SW|WP, GX = RC|LC, GA = all DS and standard rights.</summary>
    public static readonly GenericMapping DirectoryObject = new(0x20014, 0x20028, 0x20004, 0xF01FF);

    /// <summary>Replaces generic bits in <paramref name="mask"/> by the specific bits they stand for.</summary>
    public uint Map(uint mask)
    {
        var result = mask & ~(GenericRead | GenericWrite | GenericExecute | GenericAll);
        if ((mask & GenericRead) != 0)
        {
            result |= Read;
        }

        if ((mask & GenericWrite) != 0)
        {
            result |= Write;
        }

        if ((mask & GenericExecute) != 0)
        {
            result |= Execute;
        }

        if ((mask & GenericAll) != 0)
        {
            result |= All;
        }

        return result;
    }
}

/// <summary>
/// Windows access-check semantics (SPEC §5): ACEs in order; a bit is granted when the first ACE
/// that matches the caller and mentions the bit allows it, so a deny met before the bit is
/// granted wins. An empty DACL grants nothing, a null DACL everything; the owner implicitly holds
/// READ_CONTROL and WRITE_DAC unless an OWNER RIGHTS ACE says otherwise. Inherit-only ACEs do not
/// apply to the object itself.
/// </summary>
public static class AccessCheck
{
    private const uint ReadControl = 0x20000;
    private const uint WriteDac = 0x40000;

    /// <summary>Every right <paramref name="token"/> holds on the object (MAXIMUM_ALLOWED).</summary>
    public static uint GrantedRights(SecurityDescriptor descriptor, IReadOnlySet<Sid> token, GenericMapping? mapping = null)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(token);
        var map = mapping ?? GenericMapping.DirectoryObject;
        if (descriptor.Dacl is null)
        {
            return uint.MaxValue;
        }

        uint granted = 0, denied = 0;
        var aces = descriptor.Dacl.Aces;
        if (descriptor.Owner is { } owner && token.Contains(owner) && !aces.Any(a => a.Sid == Sid.OwnerRights))
        {
            granted |= ReadControl | WriteDac;
        }

        foreach (var ace in aces)
        {
            if ((ace.Flags & AceFlags.InheritOnly) != 0)
            {
                continue;
            }

            var applies = ace.Sid == Sid.OwnerRights
                ? descriptor.Owner is { } o && token.Contains(o)
                : token.Contains(ace.Sid);
            if (!applies)
            {
                continue;
            }

            var mask = map.Map(ace.Mask);
            if (ace.Type == AceType.AccessAllowed)
            {
                granted |= mask & ~denied;
            }
            else
            {
                denied |= mask & ~granted;
            }
        }

        return granted;
    }

    /// <summary>Whether <paramref name="token"/> holds every right in <paramref name="desired"/>.</summary>
    public static bool IsGranted(SecurityDescriptor descriptor, IReadOnlySet<Sid> token, uint desired, GenericMapping? mapping = null)
    {
        var map = mapping ?? GenericMapping.DirectoryObject;
        var want = map.Map(desired);
        return want != 0 && (GrantedRights(descriptor, token, map) & want) == want;
    }
}
