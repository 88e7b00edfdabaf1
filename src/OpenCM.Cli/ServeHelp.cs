using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm serve --help</c> (issue #23.8): the options, then the configuration keys an operator
/// reaches for first, in the <c>--Section:Key=value</c> form they take after the options. Every key
/// is in docs/configuration.md, which lists the rest; a test keeps the two in step.
/// </summary>
internal sealed class ServeHelp : SynchronousCommandLineAction
{
    /// <summary>The keys shown, with what they do; each is a row of docs/configuration.md.</summary>
    internal static readonly IReadOnlyList<(string Key, string Meaning)> Keys =
    [
        ("OpenCM:DataDirectory", "the data directory: SQLite database and master.key (--data)"),
        ("OpenCM:Database", "sqlite (default) or postgres (--database)"),
        ("OpenCM:ConnectionString", "PostgreSQL's connection string (--connection); secret: give it as OpenCM__ConnectionString"),
        ("OpenCM:MasterKey", "the master key, base64, else master.key in the data directory; secret: give it as OpenCM__MasterKey"),
        ("urls", "addresses to listen on, ;-separated (--urls; default http://localhost:5000)"),
        ("Ca:PublicUrl", "the address clients reach the server at, written into every certificate; required on PostgreSQL"),
        ("Tls:FromOwnCa", "host name(s) of a TLS certificate the server issues itself for its https:// addresses"),
        ("Kestrel:Endpoints:Https:Url", "an HTTPS address served with a certificate file instead (with ...:Certificate:Path and ...:Certificate:KeyPath)"),
        ("Directory:Source", "embedded (default) or ldap: Active Directory, with Directory:Ldap:Url, ...:BindDn, ...:BaseDn"),
        ("Auth:Authority", "an OIDC authority whose tokens are accepted too (with Auth:AuthorityAudience)"),
        ("Api:PathBase", "the path the API and the portal live under (default /CertificateManagement)"),
        ("RateLimits:Enabled", "false turns the per-caller rate limits off"),
        ("Proxies:Known", "addresses of reverse proxies whose X-Forwarded-For and -Proto are believed"),
        ("Logging:LogLevel:Default", "the least level logged (default Information); Logging:Console:FormatterName=json for JSON lines"),
    ];

    private readonly Command _command;
    private readonly CliIo _io;

    public ServeHelp(Command command, CliIo io)
    {
        _command = command;
        _io = io;
    }

    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        var w = _io.Out;
        w.WriteLine("Description:");
        w.WriteLine("  " + _command.Description);
        w.WriteLine();
        w.WriteLine("Usage:");
        w.WriteLine("  opencm serve [options] [--Section:Key=value ...]");
        w.WriteLine();
        w.WriteLine("Options:");
        var options = _command.Options.Select(o => (Names: Names(o), Description: Describe(o))).ToList();
        var width = options.Max(o => o.Names.Length) + 2;
        foreach (var (names, description) in options)
        {
            w.WriteLine("  " + names.PadRight(width) + description);
        }

        w.WriteLine();
        w.WriteLine("Configuration keys (after the options as --Section:Key=value, e.g. --RateLimits:Enabled=false;");
        w.WriteLine("in the environment as Section__Key=value, e.g. OpenCM__MasterKey; or in appsettings.json).");
        w.WriteLine("The main ones (docs/configuration.md lists every key):");
        var keyWidth = Keys.Max(k => k.Key.Length) + 2;
        foreach (var (key, meaning) in Keys)
        {
            w.WriteLine("  " + key.PadRight(keyWidth) + meaning);
        }

        w.WriteLine();
        w.WriteLine("Secrets (the master key, passwords, PINs) belong in the environment, never on a command line.");
        w.WriteLine();
        w.WriteLine("Examples:");
        w.WriteLine("  opencm serve --data /var/lib/opencm --urls https://0.0.0.0:8443 --Tls:FromOwnCa=cm.contoso.com");
        w.WriteLine("  opencm serve --data /srv/opencm --database postgres --connection \"$CONN\" --urls http://0.0.0.0:5000 --Ca:PublicUrl=https://cm.contoso.com");
        return OpenCmCli.Ok;
    }

    private static string Describe(Option option) =>
        option.HasDefaultValue && option.GetDefaultValue() is { } value ? $"{option.Description} [default: {value}]" : option.Description ?? "";

    // "-?, -h, --help" or "--data <data>", as System.CommandLine's own help writes them.
    private static string Names(Option option)
    {
        var names = string.Join(", ", option.Aliases.Append(option.Name).OrderBy(n => n.Length).ThenBy(n => n, StringComparer.Ordinal));
        return option is HelpOption || option.ValueType == typeof(bool) ? names : $"{names} <{option.HelpName ?? option.Name.TrimStart('-')}>";
    }
}
