using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using OpenCM.Composition;

namespace OpenCM.Server.Hosting;

/// <summary>
/// Failures at start that are the operator's to fix (issue #23.9): each is said in one line, what
/// is wrong and what to do, by the entry point (Program.cs), which exits with
/// <see cref="ExitCode"/> instead of an unhandled exception's stack trace. The host's own log
/// entry for such a failure (with the same stack trace) is left out (<see cref="QuietHostLog"/>).
/// Anything not recognised here stays an unhandled exception: a bug, whose stack trace is wanted.
/// </summary>
public static class StartupFailures
{
    /// <summary>The exit code of a start the configuration or the machine refused: the CLI's "usage or local error".</summary>
    public const int ExitCode = 2;

    /// <summary>The line to print for <paramref name="failure"/>, or null when it is not one of the failures an operator fixes.</summary>
    public static string? Describe(Exception failure) => failure switch
    {
        // Said by whoever refused: the storage (via StorageFailures), the CA, the directory, the TLS settings, the master key.
        ConfigurationRefusedException or Storage.MasterKeyException => failure.Message,
        IOException bind when Find<AddressInUseException>(bind) is not null =>
            $"{Sentence(bind.Message)}: another program (another OpenCM?) listens there. Stop it, or listen elsewhere: --urls http://127.0.0.1:PORT",
        IOException bind when Find<SocketException>(bind) is { SocketErrorCode: SocketError.AccessDenied } =>
            $"{Sentence(bind.Message)}: this user may not listen there (a port below 1024 needs the CAP_NET_BIND_SERVICE capability). Listen on a port from 1024 up (--urls http://0.0.0.0:8080), behind a proxy or a port redirect",
        IOException bind when bind.Message.StartsWith("Failed to bind to address", StringComparison.Ordinal) =>
            $"{Sentence(bind.Message)} ({Sentence(Innermost(bind).Message)}): check the addresses in --urls (or Kestrel:Endpoints)",
        InvalidOperationException https when IsHttpsWithoutCertificate(https) =>
            "an https:// address needs a TLS certificate, and none is configured: let OpenCM issue one from its CA with --Tls:FromOwnCa=HOSTNAME, "
            + "or give a certificate file with --Kestrel:Endpoints:Https:Url=https://0.0.0.0:8443 --Kestrel:Endpoints:Https:Certificate:Path=FILE (and :KeyPath=KEYFILE) "
            + "instead of the https:// address in --urls (docs/operations.md, \"TLS\")",
        _ => null,
    };

    /// <summary>
    /// Makes the host leave out its "Hosting failed to start" entry (a stack trace) for the failures
    /// <see cref="Describe"/> says in one line; every other entry of the host is logged as before.
    /// </summary>
    public static void QuietHostLog(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        // The generic host logs through ILogger<Host>, of its internal Host type, resolved from the
        // container: a registration of that closed type replaces the open generic Logger<T> for it alone.
        // Should a later ASP.NET Core rename the type, nothing is replaced and the entry is logged as before.
        if (Type.GetType("Microsoft.Extensions.Hosting.Internal.Host, Microsoft.Extensions.Hosting") is { } host)
        {
            services.AddSingleton(typeof(ILogger<>).MakeGenericType(host), typeof(QuietStartupLogger<>).MakeGenericType(host));
        }
    }

    // Kestrel's refusal of an https:// address with no certificate (and no development certificate), thrown by UseHttps.
    private static bool IsHttpsWithoutCertificate(InvalidOperationException e) =>
        e.TargetSite?.DeclaringType?.FullName == "Microsoft.AspNetCore.Hosting.ListenOptionsHttpsExtensions"
        || e.Message.StartsWith("Unable to configure HTTPS endpoint. No server certificate was specified", StringComparison.Ordinal);

    private static T? Find<T>(Exception e)
        where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    // Kestrel's "Failed to bind to address http://127.0.0.1:5000: address already in use." without its full stop.
    private static string Sentence(string message) => message.Trim().TrimEnd('.');
}

/// <summary>The host's logger, less its entries whose exception <see cref="StartupFailures.Describe"/> says in one line.</summary>
/// <typeparam name="T">The host's type (its log category).</typeparam>
public sealed class QuietStartupLogger<T> : ILogger<T>
{
    private readonly ILogger _inner;

    public QuietStartupLogger(ILoggerFactory factory) => _inner = new Logger<T>(factory);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => _inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is not null && logLevel >= LogLevel.Error && StartupFailures.Describe(exception) is not null)
        {
            return;
        }

        _inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
