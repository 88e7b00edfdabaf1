using System.Reflection;

namespace OpenCM.Composition;

/// <summary>
/// OpenCM's version as built (issue #21.5): the informational version of these assemblies,
/// Directory.Build.props' <c>VersionPrefix</c> followed, when built from a git clone, by
/// <c>+</c> and the commit (the SDK's SourceRevisionId). What <c>opencm --version</c> prints and
/// the server logs at start; every OpenCM assembly of one build carries the same.
/// </summary>
public static class OpenCmVersion
{
    /// <summary>E.g. "0.23.0+3f2c…" (a clone), or "0.23.0" (a build without git).</summary>
    public static string Informational { get; } =
        typeof(OpenCmVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OpenCmVersion).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
