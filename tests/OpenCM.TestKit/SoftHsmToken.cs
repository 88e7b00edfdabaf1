using System.Runtime.InteropServices;

namespace OpenCM.TestKit;

/// <summary>
/// A SoftHSM2 token directory of the test's own (Debian's softhsm2; issue #20): a softhsm2.conf
/// naming it, and tokens initialised in it with <c>softhsm2-util --init-token --free</c>. The
/// module reads SOFTHSM2_CONF once, at C_Initialize, so a test process loads it through
/// <see cref="ForThisProcess"/> (which sets the variable before anything loads the module), and a
/// child process (<c>opencm serve</c>) gets <see cref="Environment"/>. Tests skip with a visible
/// reason only when softhsm2 or OpenSC is not installed and <see cref="Prerequisite.Demanded"/> is off.
/// </summary>
public sealed class SoftHsmToken : IDisposable
{
    public const string Module = "/usr/lib/softhsm/libsofthsm2.so";
    public const string UserPin = "20-user-pin";
    public const string SoPin = "20-so-pin-20";

    private static readonly Lazy<SoftHsmToken> Process = new(() =>
    {
        var hsm = new SoftHsmToken();

        // The module reads getenv("SOFTHSM2_CONF"); on Unix .NET's SetEnvironmentVariable changes
        // only the managed copy, so the native environment is set as well.
        System.Environment.SetEnvironmentVariable("SOFTHSM2_CONF", hsm.ConfigPath);
        if (NativeEnvironment.setenv("SOFTHSM2_CONF", hsm.ConfigPath, 1) != 0)
        {
            throw new InvalidOperationException("setenv(SOFTHSM2_CONF) failed");
        }

        return hsm;
    });

    private readonly TempDirectory _directory = new();

    public SoftHsmToken()
    {
        TokenDirectory = _directory.File("tokens");
        Directory.CreateDirectory(TokenDirectory);
        ConfigPath = _directory.File("softhsm2.conf");
        File.WriteAllText(ConfigPath, $"directories.tokendir = {TokenDirectory}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
    }

    /// <summary>Why SoftHSM tests cannot run here, or null.</summary>
    public static string? Missing =>
        !File.Exists(Module) || !OnPath("softhsm2-util") ? "softhsm2 is not installed (apt-get install -y --no-install-recommends softhsm2)."
        : !OnPath("pkcs11-tool") ? "OpenSC's pkcs11-tool is not installed (apt-get install -y --no-install-recommends opensc)."
        : null;

    /// <summary>The token directory this process's module uses (SOFTHSM2_CONF set on first use).</summary>
    public static SoftHsmToken ForThisProcess => Process.Value;

    public string ConfigPath { get; }

    public string TokenDirectory { get; }

    /// <summary>What a child process needs to see these tokens.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfigPath };

    /// <summary>Skips (or fails, under OPENCM_TESTS_REQUIRE_ALL) when softhsm2 or pkcs11-tool is missing.</summary>
    public static void SkipIfMissing() => Prerequisite.SkipIfMissing(Missing is not null, Missing ?? string.Empty);

    /// <summary>Initialises a fresh token labelled <paramref name="label"/> in the next free slot, with <see cref="UserPin"/>.</summary>
    public async Task InitTokenAsync(string label)
    {
        var result = await RunAsync("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SoPin, "--pin", UserPin);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"softhsm2-util --init-token {label} failed: {result.All}");
        }
    }

    /// <summary>Runs <c>pkcs11-tool --module (SoftHSM) args</c> on these tokens.</summary>
    public Task<OpenSsl.Result> Pkcs11ToolAsync(params string[] args) => RunAsync("pkcs11-tool", ["--module", Module, .. args]);

    /// <summary>
    /// The lines <c>pkcs11-tool --list-objects</c> prints for the object of kind
    /// <paramref name="header"/> (e.g. "Private Key Object") labelled <paramref name="label"/>:
    /// its header line and the indented lines below it.
    /// </summary>
    public static string ObjectBlock(string listing, string header, string label)
    {
        ArgumentNullException.ThrowIfNull(listing);
        var lines = listing.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith(header, StringComparison.Ordinal))
            {
                continue;
            }

            var block = string.Join('\n', lines.Skip(i).Take(1).Concat(lines.Skip(i + 1).TakeWhile(l => l.StartsWith(' ') || l.StartsWith('\t'))));
            if (block.Contains(label, StringComparison.Ordinal))
            {
                return block;
            }
        }

        throw new Xunit.Sdk.XunitException($"pkcs11-tool listed no {header} labelled {label}:\n{listing}");
    }

    /// <summary>Runs a tool with SOFTHSM2_CONF pointing at this directory.</summary>
    public async Task<OpenSsl.Result> RunAsync(string tool, params string[] args)
    {
        var (exit, output, error) = await ToolProcess.RunAsync(tool, args, TimeSpan.FromMinutes(2),
            environment: new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfigPath });
        return new OpenSsl.Result(exit, output, error);
    }

    public void Dispose() => _directory.Dispose();

    private static bool OnPath(string tool) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));
}

internal static class NativeEnvironment
{
#pragma warning disable SYSLIB1054, CA2101 // A test helper: one libc call with ASCII arguments; LibraryImport would need unsafe code in TestKit.
    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    internal static extern int setenv(string name, string value, int overwrite);
#pragma warning restore SYSLIB1054, CA2101
}
