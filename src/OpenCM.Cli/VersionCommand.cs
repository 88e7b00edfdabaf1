using System.CommandLine;
using System.CommandLine.Invocation;
using OpenCM.Composition;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm --version</c> and <c>opencm version</c> (issue #21.5): OpenCM's informational
/// version (<see cref="OpenCmVersion"/>), one line, exit code 0. System.CommandLine's own
/// <c>--version</c> prints the entry assembly's version, which is not OpenCM's when the CLI runs
/// inside another host (the tests'); both forms print OpenCM's.
/// </summary>
internal static class VersionCommand
{
    public static Command Create(CliIo io)
    {
        var command = new Command("version", "Print OpenCM's version (as --version does).");
        command.SetAction(async _ =>
        {
            await io.Out.WriteLineAsync(OpenCmVersion.Informational);
            return OpenCmCli.Ok;
        });
        return command;
    }

    /// <summary>Makes the root command's --version print OpenCM's version to <paramref name="io"/>.</summary>
    public static void Apply(RootCommand root, CliIo io)
    {
        ArgumentNullException.ThrowIfNull(root);
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = new Print(io);
        }
    }

    private sealed class Print(CliIo io) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            io.Out.WriteLine(OpenCmVersion.Informational);
            return OpenCmCli.Ok;
        }
    }
}
