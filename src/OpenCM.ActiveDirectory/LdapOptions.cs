namespace OpenCM.ActiveDirectory;

/// <summary>
/// The LDAP directory source (configuration section <c>Directory:Ldap</c>, issue #19): where the
/// directory is, how OpenCM binds to it, and how long what it read stays true.
/// </summary>
public sealed class LdapOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Directory:Ldap";

    /// <summary><c>ldaps://host:636</c>, or <c>ldap://host:389</c> with <see cref="StartTls"/> (or, only where allowed, in plain text).</summary>
    public string Url { get; set; } = "";

    /// <summary>Where users and groups are searched, e.g. <c>DC=contoso,DC=com</c>; the domain's SID is read from it.</summary>
    public string BaseDn { get; set; } = "";

    /// <summary>The account OpenCM binds as (a DN or a user principal name); it needs only read access.</summary>
    public string BindDn { get; set; } = "";

    /// <summary>Its password: from the environment or a file, never printed.</summary>
    public string BindPassword { get; set; } = "";

    /// <summary>A file holding <see cref="BindPassword"/> (a secret mounted by the platform), read at start.</summary>
    public string BindPasswordFile { get; set; } = "";

    /// <summary>PEM of the CA that signed the directory's certificate; the certificate is always verified.</summary>
    public string CaFile { get; set; } = "";

    /// <summary>Upgrade an <c>ldap://</c> connection with StartTLS.</summary>
    public bool StartTls { get; set; }

    /// <summary>Allow <c>ldap://</c> without StartTLS: passwords and rights in clear text on the wire; for a lab only.</summary>
    public bool AllowPlaintext { get; set; }

    /// <summary>How long a user, group or membership read from the directory is kept (issue #19: rights lost within it).</summary>
    public int CacheSeconds { get; set; } = 30;

    /// <summary>How long one LDAP operation may take before the directory counts as unavailable.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Connections kept open to the directory at most.</summary>
    public int MaxConnections { get; set; } = 8;
}
