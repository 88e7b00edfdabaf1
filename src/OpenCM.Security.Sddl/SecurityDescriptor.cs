namespace OpenCM.Security.Sddl;

/// <summary>ACE types OpenCM evaluates. Object, conditional and audit ACEs are refused at parse.</summary>
public enum AceType
{
    AccessAllowed,
    AccessDenied,
}

/// <summary>ACE inheritance and audit flags, kept so that a descriptor round-trips.</summary>
[Flags]
public enum AceFlags
{
    None = 0,
    ObjectInherit = 0x1,       // OI
    ContainerInherit = 0x2,    // CI
    NoPropagateInherit = 0x4,  // NP
    InheritOnly = 0x8,         // IO
    Inherited = 0x10,          // ID
    SuccessfulAccess = 0x40,   // SA
    FailedAccess = 0x80,       // FA
}

/// <summary>DACL control flags.</summary>
[Flags]
public enum AclFlags
{
    None = 0,
    Protected = 0x1,             // P
    AutoInheritRequired = 0x2,   // AR
    AutoInherited = 0x4,         // AI
}

/// <summary>One access control entry.</summary>
public sealed record Ace(AceType Type, AceFlags Flags, uint Mask, Sid Sid);

/// <summary>A discretionary access control list. An empty list grants nothing.</summary>
public sealed record Acl(AclFlags Flags, IReadOnlyList<Ace> Aces);

/// <summary>
/// A security descriptor: owner, group and DACL. A null <see cref="Dacl"/> is a null DACL, which
/// grants everything (Windows semantics); that differs from an empty DACL, which grants nothing.
/// </summary>
public sealed record SecurityDescriptor(Sid? Owner, Sid? Group, Acl? Dacl)
{
    /// <summary>Parses SDDL; trailing NUL characters are ignored (SPEC §5).</summary>
    public static SecurityDescriptor Parse(string sddl, Sid? domain = null) => SddlParser.Parse(sddl, domain);

    /// <summary>Writes canonical SDDL (aliases for well-known SIDs, rights in ascending bit order).</summary>
    public override string ToString() => SddlWriter.Write(this);
}
