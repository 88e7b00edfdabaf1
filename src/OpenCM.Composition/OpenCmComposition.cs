using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// Composes OpenCM apart from any front-end: options, the chosen storage provider, the master
/// key, the embedded CA and what it publishes, the card master key, the use cases, and the
/// server's own tokens and passwords. The HTTP host and the <c>opencm</c> commands that work on
/// a data directory both start from it.
/// </summary>
public static class OpenCmComposition
{
    /// <summary>The path the API (and the CRL) lives under when configuration names none (SPEC §1).</summary>
    public const string DefaultPathBase = "/CertificateManagement";

    /// <summary>Command-line switches OpenCM understands besides the configuration keys.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--data"] = "OpenCM:DataDirectory",
        ["--database"] = "OpenCM:Database",
        ["--connection"] = "OpenCM:ConnectionString",
    };

    /// <summary>
    /// Everything but a front-end. Options are read when first needed, so that hosts (and tests)
    /// may still add configuration; nothing is opened until resolved.
    /// </summary>
    public static IServiceCollection AddOpenCmCore(this IServiceCollection services)
    {
        services.AddSingleton(sp => Section<AuthOptions>(sp, "Auth"));
        services.AddSingleton(sp => Section<DataOptions>(sp, "OpenCM"));
        services.AddSingleton(sp => Section<OpenCmOptions>(sp, "OpenCM"));
        services.AddSingleton(sp => Section<CaOptions>(sp, "Ca"));
        services.AddSingleton(sp => Section<NotificationOptions>(sp, NotificationOptions.Section));
        services.AddSingleton(sp => Section<SmtpOptions>(sp, SmtpOptions.Section));
        services.AddSingleton(sp => Section<ScepOptions>(sp, ScepOptions.Section));
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();

        // 1. The directory source Directory:Source chooses: the embedded directory the storage
        //    keeps (the default, administered by first start and opencm users), or Active
        //    Directory over LDAP, read-only; registered before the storage's own registrations.
        services.AddOpenCmDirectory();

        // 2. Storage: the provider OpenCM:Database chooses, and the master key.
        services.AddOpenCmStorage();

        // 3. The CAs (the first made on first use, keys encrypted at rest or in a token), the active
        //    one's signer and issuer profile, and what they publish (issue #20.1).
        services.AddSingleton<ServerKeys>();
        services.AddSingleton(CaContextOf);
        services.AddSingleton(sp => sp.GetRequiredService<ServerKeys>().Authorities);
        services.AddSingleton<CaAdministration>();
        //    The OCSP responder answers for every CA held, each OcspIssuer looking up its own certificates.
        services.AddSingleton(sp => Section<Authority.Ocsp.OcspOptions>(sp, "Ca:Ocsp"));
        services.AddSingleton(sp => new Authority.Ocsp.OcspResponder(sp.GetRequiredService<CertificateAuthorities>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Authority.Ocsp.OcspOptions>()));
        services.AddSingleton<ICertificateAuthority, EmbeddedCertificateAuthority>();
        //    SCEP's RA (issue #24.3): its RSA key sealed like the CA's, its certificate issued by the active CA.
        services.AddSingleton(sp => new ScepRaKeys(sp.GetRequiredService<SecretStore>(), sp.GetRequiredService<CertificateAuthorities>(), sp.GetRequiredService<ScepOptions>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ICertificateRequestChecker, CsrChecker>();
        services.AddSingleton<IKeyGenerator, KeyGenerator>();
        services.AddSingleton<ICertificatePackaging, CertificatePackaging>();
        services.AddSingleton<ISmartcardKeys, SmartcardKeys>();

        // 4. Use cases; who calls (a validated token's claims, read against the directory); the
        //    server's own tokens and directory passwords.
        services.AddOpenCmApplication();
        services.AddSingleton(sp => Section<ReportOptions>(sp, ReportOptions.Section));
        //    E-mail notifications' transport and texts (issue #21.2); the HTTP host adds webhooks and runs the dispatcher.
        services.AddSingleton<IMailTransport, SmtpMailTransport>();
        services.AddSingleton<IMessageTemplates, MessageTemplates>();
        //    The chain of caller sources, asked in this order (issue #17.5): this server's own tokens
        //    and sessions, then an authority's, which answers for any principal with a user GUID.
        //    Another source (Kerberos/Negotiate) is registered before the authority's.
        services.AddSingleton<ICallerSource, LocalCallerSource>();
        services.AddSingleton<ICallerSource, AuthorityCallerSource>();
        services.AddSingleton<CallerResolver>();
        services.AddSingleton<Passwords>();
        services.AddSingleton(sp => new TokenService(sp.GetRequiredService<ServerKeys>().TokenKey, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<AuthOptions>()));
        return services;
    }

    /// <summary>
    /// What must be done before anything reads or serves, awaited rather than blocked on: the
    /// schema migrated, the audit chain keyed (decision 0010), an LDAP directory's bind checked,
    /// then the keys loaded from the secret store (made on first start). A database that does not
    /// answer, refuses the sign-in, or holds a schema newer than this build knows is refused in one
    /// line (<see cref="StorageFailures"/>, issue #23.9).
    /// </summary>
    public static async Task StartAsync(IServiceProvider services, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        await StorageFailures.MigrateAsync(services.GetRequiredService<IStorageSchema>(), ct).ConfigureAwait(false);
        await services.GetRequiredService<IStorageSchema>().KeyAuditChainAsync(ct).ConfigureAwait(false);
        await DirectoryChoice.CheckAsync(services, ct).ConfigureAwait(false);
        await services.GetRequiredService<ServerKeys>().LoadAsync(services.GetRequiredService<CaContext>(), services.GetRequiredService<SecretStore>(), ct).ConfigureAwait(false);
    }

    // Where a CA made now publishes: Ca:PublicUrl, or on one node the address it listens on, under the API's path base.
    private static CaContext CaContextOf(IServiceProvider sp)
    {
        var configuration = sp.GetRequiredService<IConfiguration>();
        var options = sp.GetRequiredService<CaOptions>();
        var publication = CaSetup.Publication(options, configuration["urls"], configuration["Api:PathBase"] ?? DefaultPathBase, sp.GetRequiredService<DataOptions>().IsPostgres);
        return new CaContext(sp.GetRequiredService<IAuthorityStore>(), sp.GetRequiredService<AuthorityChanges>(), sp.GetRequiredService<ICertificateStore>(), sp.GetRequiredService<SecretStore>(),
            options, publication, sp.GetRequiredService<TimeProvider>());
    }

    private static T Section<T>(IServiceProvider sp, string name)
        where T : new() => sp.GetRequiredService<IConfiguration>().GetSection(name).Get<T>() ?? new T();
}
