using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.IdentityModel.Tokens;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;
using OpenCM.Server.Portal;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;

namespace OpenCM.Server.Hosting;

/// <summary>API settings (configuration section <c>Api</c>).</summary>
public sealed class ApiOptions
{
    /// <summary>False makes every API route answer 404, as <c>Clm.WebApi.Enabled=false</c> does.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The path the API lives under (SPEC §1).</summary>
    public string PathBase { get; set; } = "/CertificateManagement";
}

/// <summary>Storage settings (configuration section <c>OpenCM</c>).</summary>
public sealed class DataOptions
{
    public const string DefaultDirectory = "opencm-data";
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary>The data directory: the SQLite database, and the master key file unless <see cref="MasterKey"/> is given.</summary>
    public string DataDirectory { get; set; } = DefaultDirectory;

    /// <summary>Base64 master key from a secret manager; otherwise DataDirectory/master.key. Every node of a cluster needs the same.</summary>
    public string? MasterKey { get; set; }

    /// <summary><c>sqlite</c> (the embedded default) or <c>postgres</c> (SPEC §10).</summary>
    public string Database { get; set; } = Sqlite;

    /// <summary>For <c>postgres</c>: the Npgsql connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Whether <see cref="Database"/> names PostgreSQL; anything but the two names is refused.</summary>
    public bool IsPostgres => Database.ToLowerInvariant() switch
    {
        Sqlite => false,
        Postgres or "postgresql" => true,
        _ => throw new InvalidOperationException($"OpenCM:Database is '{Database}'; it is 'sqlite' or 'postgres'."),
    };
}

/// <summary>Composes OpenCM: each layer registers itself; this host chooses the storage provider, the CA and the key provider.</summary>
public static class OpenCmServices
{
    /// <summary>Command-line switches the server understands besides the ASP.NET Core ones.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--data"] = "OpenCM:DataDirectory",
        ["--database"] = "OpenCM:Database",
        ["--connection"] = "OpenCM:ConnectionString",
    };

    /// <summary>
    /// Everything but HTTP: options, storage, the embedded CA, the use cases and token signing.
    /// The server and the <c>opencm</c> commands that work on a data directory share it.
    /// Options are read when first needed, so that hosts (and tests) may still add configuration.
    /// </summary>
    public static IServiceCollection AddOpenCmCore(this IServiceCollection services)
    {
        services.AddSingleton(sp => Section<ApiOptions>(sp, "Api"));
        services.AddSingleton(sp => Section<AuthOptions>(sp, "Auth"));
        services.AddSingleton(sp => Section<DataOptions>(sp, "OpenCM"));
        services.AddSingleton(sp => Section<OpenCmOptions>(sp, "OpenCM"));
        services.AddSingleton(sp => Section<Pki.CaOptions>(sp, "Ca"));
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();

        // 1. Storage: the embedded default, SQLite in the data directory, or PostgreSQL for one or
        //    several nodes. The master key comes from configuration when given (a secret manager),
        //    else from the data directory's key file.
        services.AddSingleton<IMasterKeyProvider>(sp => sp.GetRequiredService<DataOptions>() is { MasterKey: { Length: > 0 } configured }
            ? new ConfiguredMasterKeyProvider(configured)
            : new FileMasterKeyProvider(sp.GetRequiredService<DataOptions>().IsPostgres
                ? StorageChoice.KeyFileBeside(sp.GetRequiredService<DataOptions>().DataDirectory)
                : sp.GetRequiredService<SqliteDataDirectory>().MasterKeyPath));
        services.AddSingleton(sp => SqliteDataDirectory.Open(sp.GetRequiredService<DataOptions>().DataDirectory));
        services.AddSingleton(sp => new Storage.Postgres.PostgresStorage(sp.GetRequiredService<DataOptions>().ConnectionString is { Length: > 0 } c
            ? c
            : throw new InvalidOperationException("OpenCM:Database is postgres: give the connection string (--connection or OpenCM:ConnectionString).")));
        services.AddSingleton<StorageProvider>(sp => sp.GetRequiredService<DataOptions>().IsPostgres
            ? sp.GetRequiredService<Storage.Postgres.PostgresStorage>()
            : sp.GetRequiredService<SqliteDataDirectory>().Storage);
        services.AddOpenCmSqlStores(sp => sp.GetRequiredService<StorageProvider>() switch
        {
            Storage.Postgres.PostgresStorage pg => pg.Location,
            SqliteStorage sqlite => sqlite.DatabasePath,
            var other => other.GetType().Name,
        });

        // 2. The embedded CA (created on first use, key encrypted at rest) and what it publishes.
        services.AddSingleton<ServerKeys>();
        services.AddSingleton(sp => sp.GetRequiredService<ServerKeys>().Ca);
        services.AddSingleton(sp => new IssuancePipeline(sp.GetRequiredService<ICertificateSigner>(),
            [Pki.CaSetup.CrlUrl(sp.GetRequiredService<Pki.CaOptions>(), sp.GetRequiredService<IConfiguration>()["urls"], sp.GetRequiredService<ApiOptions>().PathBase)]));
        services.AddSingleton(sp => new CrlPublisher(sp.GetRequiredService<ICertificateSigner>(), sp.GetRequiredService<ICertificateStore>(),
            sp.GetRequiredService<TimeProvider>(), TimeSpan.FromHours(sp.GetRequiredService<Pki.CaOptions>().CrlValidityHours)));
        services.AddSingleton<ICertificateAuthority, EmbeddedCertificateAuthority>();
        services.AddSingleton(sp => sp.GetRequiredService<IssuancePipeline>().Issuer);
        services.AddSingleton<ICertificateRequestChecker, CsrChecker>();
        services.AddSingleton<IKeyGenerator, KeyGenerator>();
        services.AddSingleton<ICertificatePackaging, CertificatePackaging>();
        services.AddSingleton<ISmartcardKeys, SmartcardKeys>();

        // 3. Use cases, and the server's own tokens.
        services.AddOpenCmApplication();
        services.AddSingleton<Passwords>();
        services.AddSingleton(sp => new TokenService(sp.GetRequiredService<ServerKeys>().TokenKey, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<AuthOptions>()));
        return services;
    }

    /// <summary>
    /// What must be done before anything reads or serves, awaited rather than blocked on: the
    /// schema migrated, then the keys loaded from the secret store (made on first start).
    /// </summary>
    public static async Task StartAsync(IServiceProvider services, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        await services.GetRequiredService<IStorageSchema>().MigrateAsync(ct).ConfigureAwait(false);
        await services.GetRequiredService<ServerKeys>().LoadAsync(
            services.GetRequiredService<SecretStore>(), services.GetRequiredService<Pki.CaOptions>(), services.GetRequiredService<TimeProvider>(), ct).ConfigureAwait(false);
    }

    /// <summary>The server: the core, and HTTP (limits, authentication, health, OpenAPI).</summary>
    public static WebApplicationBuilder AddOpenCm(this WebApplicationBuilder builder, string[] args)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddAppFolderSettings(builder.Configuration, AppContext.BaseDirectory);
        builder.Configuration.AddCommandLine(args, SwitchMappings);

        // Request lines carry raw query strings, where a client may put a credential
        // (?access_token=…); they are never logged, whatever level the configuration asks for.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        var services = builder.Services;
        services.AddOpenCmCore();

        // Bodies over 1 MiB are refused (SPEC §2; WireBody counts too, for hosts without Kestrel
        // limits); connections are bounded below the open-file limit (issue #7.1).
        builder.WebHost.ConfigureKestrel((context, k) =>
        {
            k.Limits.MaxRequestBodySize = Wire.WireBody.MaxBytes;
            ConnectionLimits.Apply(k, context.Configuration.GetSection("Connections").Get<ConnectionOptions>() ?? new ConnectionOptions());
        });

        services.AddSingleton<CallerResolver>();
        services.AddSingleton<RefusedTokenLog>();
        services.AddOpenCmDataProtection();
        services.AddSingleton(sp => Section<RateLimitOptions>(sp, "RateLimits"));
        services.AddOpenCmRateLimits();
        services.AddOpenApi(o => o.AddSchemaTransformer(Wire.WireSchemas.DescribeAsync));

        // The OpenAPI document describes the contracts as they travel: the generated context, wire names unchanged.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = null;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, Contracts.WireJsonContext.Default);
        });
        services.AddHealthChecks().AddCheck<StorageReadiness>("storage", tags: [StorageReadiness.Tag]);
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<TokenService, TimeProvider, AuthOptions>((o, tokens, clock, auth) => ConfigureJwt(o, auth, tokens, clock));
        services.AddAuthorization();
        services.AddOpenCmPortal(builder.Configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions());
        return builder;
    }

    // JWT bearer tokens from this server's own key, and from an OIDC authority when one is configured (SPEC §5).
    private static void ConfigureJwt(JwtBearerOptions o, AuthOptions auth, TokenService tokens, TimeProvider clock)
    {
        o.MapInboundClaims = false;
        o.TimeProvider = clock;
        o.TokenHandlers.Clear();
        o.TokenHandlers.Add(new CachingTokenHandler(clock, auth.TokenCacheSize));
        o.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuers = [auth.Issuer],
            ValidAudiences = auth.AuthorityAudience is null ? [auth.Audience] : [auth.Audience, auth.AuthorityAudience],
            IssuerSigningKeys = [tokens.SigningKey],
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromMinutes(2),
            LifetimeValidator = Lifetime(clock),
            NameClaimType = ClaimNames.Name,
        };
        if (!string.IsNullOrEmpty(auth.Authority))
        {
            // The authority's keys and issuer come from its metadata and are added to the local ones.
            o.Authority = auth.Authority;
            o.RequireHttpsMetadata = auth.RequireHttpsMetadata;
        }

        o.Events = new JwtBearerEvents
        {
            // The handler's own failure log (a stack trace per token) stays below Warning; this is the one line.
            OnAuthenticationFailed = context =>
            {
                context.HttpContext.RequestServices.GetRequiredService<RefusedTokenLog>()
                    .Refused(context.Exception.GetType().Name, Correlation.Get(context.HttpContext));
                return Task.CompletedTask;
            },
            OnChallenge = async context =>
            {
                context.HandleResponse();
                await Problems.WriteAsync(context.HttpContext, new DomainError(ErrorKind.Unauthenticated,
                    context.AuthenticateFailure is null ? "A bearer token is required." : "The bearer token is invalid or expired."));
            },
        };
    }

    /// <summary>
    /// A token's lifetime checked against the injected clock: the library's own check reads the
    /// wall clock, so time is one thing everywhere (and tests can pin it). No exp, no entry.
    /// </summary>
    internal static LifetimeValidator Lifetime(TimeProvider clock) => (notBefore, expires, _, parameters) =>
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return expires is { } exp && now <= exp + parameters.ClockSkew && (notBefore is not { } nbf || nbf - parameters.ClockSkew <= now);
    };

    /// <summary>
    /// The application folder's appsettings.json as the lowest-priority source (issue #7.9): a
    /// server started from another directory still logs quietly. The working directory's file,
    /// the environment and the command line override it.
    /// </summary>
    public static void AddAppFolderSettings(IConfigurationBuilder configuration, string appFolder)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (!File.Exists(Path.Combine(appFolder, "appsettings.json")))
        {
            return;
        }

        configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = "appsettings.json",
            Optional = true,
            FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(appFolder),
        });
    }

    private static T Section<T>(IServiceProvider sp, string name)
        where T : new() => sp.GetRequiredService<IConfiguration>().GetSection(name).Get<T>() ?? new T();
}
