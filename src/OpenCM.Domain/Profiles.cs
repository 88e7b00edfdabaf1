namespace OpenCM.Domain;

/// <summary>Status of a software profile (SPEC §3).</summary>
public enum ProfileStatus
{
    None = 0,
    New = 1,
    Active = 2, // published
    Suspended = 3,
    Disabled = 4,
    Retired = 5,
}
