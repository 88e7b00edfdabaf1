namespace OpenCM.Security.Sddl;

/// <summary>The SDDL vocabulary: SID aliases, right codes, flag codes.</summary>
internal static class SddlTables
{
    /// <summary>Aliases for SIDs that do not depend on a domain.</summary>
    public static readonly IReadOnlyDictionary<string, string> WellKnown = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["WD"] = "S-1-1-0",
        ["CO"] = "S-1-3-0",
        ["CG"] = "S-1-3-1",
        ["OW"] = "S-1-3-4",
        ["NU"] = "S-1-5-2",
        ["IU"] = "S-1-5-4",
        ["SU"] = "S-1-5-6",
        ["AN"] = "S-1-5-7",
        ["ED"] = "S-1-5-9",
        ["PS"] = "S-1-5-10",
        ["AU"] = "S-1-5-11",
        ["RC"] = "S-1-5-12",
        ["SY"] = "S-1-5-18",
        ["LS"] = "S-1-5-19",
        ["NS"] = "S-1-5-20",
        ["WR"] = "S-1-5-33",
        ["BA"] = "S-1-5-32-544",
        ["BU"] = "S-1-5-32-545",
        ["BG"] = "S-1-5-32-546",
        ["PU"] = "S-1-5-32-547",
        ["AO"] = "S-1-5-32-548",
        ["SO"] = "S-1-5-32-549",
        ["PO"] = "S-1-5-32-550",
        ["BO"] = "S-1-5-32-551",
        ["RE"] = "S-1-5-32-552",
        ["RU"] = "S-1-5-32-554",
        ["RD"] = "S-1-5-32-555",
        ["NO"] = "S-1-5-32-556",
        ["MU"] = "S-1-5-32-558",
        ["LU"] = "S-1-5-32-559",
        ["IS"] = "S-1-5-32-568",
        ["CY"] = "S-1-5-32-569",
        ["ER"] = "S-1-5-32-573",
        ["RA"] = "S-1-5-32-575",
        ["HA"] = "S-1-5-32-578",
        ["AA"] = "S-1-5-32-579",
        ["RM"] = "S-1-5-32-580",
    };

    /// <summary>Aliases relative to the domain SID: alias → RID.</summary>
    public static readonly IReadOnlyDictionary<string, uint> DomainRelative = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["RO"] = 498,
        ["LA"] = 500,
        ["LG"] = 501,
        ["DA"] = 512,
        ["DU"] = 513,
        ["DG"] = 514,
        ["DC"] = 515,
        ["DD"] = 516,
        ["CA"] = 517,
        ["SA"] = 518,
        ["EA"] = 519,
        ["PA"] = 520,
        ["CN"] = 522,
        ["RS"] = 553,
    };

    /// <summary>Right codes that stand for exactly one bit, in the ascending order the writer uses.</summary>
    public static readonly (string Code, uint Bit)[] SingleBitRights =
    [
        ("CC", 0x1), ("DC", 0x2), ("LC", 0x4), ("SW", 0x8), ("RP", 0x10), ("WP", 0x20), ("DT", 0x40),
        ("LO", 0x80), ("CR", 0x100), ("SD", 0x10000), ("RC", 0x20000), ("WD", 0x40000), ("WO", 0x80000),
        ("GA", 0x10000000), ("GX", 0x20000000), ("GW", 0x40000000), ("GR", 0x80000000),
    ];

    /// <summary>All right codes accepted on input, including the composite file and registry ones.</summary>
    public static readonly IReadOnlyDictionary<string, uint> Rights = SingleBitRights
        .Concat([("FA", 0x1F01FFu), ("FR", 0x120089u), ("FW", 0x120116u), ("FX", 0x1200A0u),
                 ("KA", 0xF003Fu), ("KR", 0x20019u), ("KW", 0x20006u), ("KX", 0x20019u)])
        .ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);

    public static readonly (string Code, AceFlags Flag)[] AceFlagCodes =
    [
        ("OI", AceFlags.ObjectInherit), ("CI", AceFlags.ContainerInherit), ("NP", AceFlags.NoPropagateInherit),
        ("IO", AceFlags.InheritOnly), ("ID", AceFlags.Inherited), ("SA", AceFlags.SuccessfulAccess), ("FA", AceFlags.FailedAccess),
    ];

    public static readonly IReadOnlySet<string> ObjectAceTypes = new HashSet<string>(StringComparer.Ordinal) { "OA", "OD", "OU", "OL" };

    public static readonly IReadOnlySet<string> ConditionalAceTypes = new HashSet<string>(StringComparer.Ordinal) { "XA", "XD", "XU", "ZA" };

    public static readonly IReadOnlySet<string> SystemAceTypes = new HashSet<string>(StringComparer.Ordinal) { "AU", "AL", "ML", "SP", "RA", "TL" };
}
