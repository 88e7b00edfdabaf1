namespace OpenCM.Domain;

/// <summary>
/// The label a protocol front-end names a profile template by in its URLs (issue #24:
/// <c>/.well-known/est/{label}/</c>, and later SCEP's and ACME's): templates have a name, not a
/// label, so the label is the name in lower case with each space written as '-'
/// ("TLS Server" is <c>tls-server</c>; docs/est.md).
/// </summary>
public static class TemplateLabels
{
    /// <summary>The label of the template named <paramref name="name"/>.</summary>
    public static string Of(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant().Replace(' ', '-');
    }
}
