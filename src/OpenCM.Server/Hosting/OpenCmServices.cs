using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.IdentityModel.Tokens;
using OpenCM.Acme.Challenges;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Endpoints;
using OpenCM.Server.Errors;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Hosting;

/// <summary>API settings (configuration section <c>Api</c>).</summary>
public sealed class ApiOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Api";

    /// <summary>False makes every API route answer 404, as <c>Clm.WebApi.Enabled=false</c> does.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The path the API lives under (SPEC §1); the CRL is published under it too.</summary>
    public string PathBase { get; set; } = OpenCmComposition.DefaultPathBase;
}

/// <summary>The HTTP host over the composition (<see cref="OpenCmComposition"/>): limits, authentication, data protection, health, OpenAPI.</summary>
public static class OpenCmServices
{
    /// <summary>The server: the core, and HTTP (limits, authentication, health, OpenAPI).</summary>
    public static WebApplicationBuilder AddOpenCm(this WebApplicationBuilder builder, string[] args)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddAppFolderSettings(builder.Configuration, AppContext.BaseDirectory);
        AddDefaultSettings(builder.Configuration);
        builder.Configuration.AddCommandLine(args, OpenCmComposition.SwitchMappings);

        // Request lines carry raw query strings, where a client may put a credential
        // (?access_token=…); they are never logged, whatever level the configuration asks for.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);

        // A start refused for a reason said in one line (a port in use, …) is not logged again with its stack trace (issue #23.9).
        StartupFailures.QuietHostLog(builder.Services);

        // JSON logs (Logging:Console:FormatterName=json) carry each request's correlation id, a
        // scope of UseCorrelation, unless the operator turns scopes off (issue #21.6; docs/operations.md).
        if (builder.Configuration["Logging:Console:FormatterOptions:IncludeScopes"] is null)
        {
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.JsonConsoleFormatterOptions>(o => o.IncludeScopes = true);
        }

        var services = builder.Services;
        services.AddSingleton(sp => Section<ApiOptions>(sp, "Api"));
        services.AddOpenCmCore();
        // GET's read cache over the request store, kept fresh by the provider's change signal (issue #25.4, decision 0016).
        OpenCM.Storage.StorageServices.AddOpenCmRequestReadCache(services, sp => Section<OpenCM.Storage.ReadCacheOptions>(sp, OpenCM.Storage.ReadCacheOptions.Section));
        // The server's first start initializes a fresh installation, master key included (issue #23.7).
        services.AllowMasterKeyCreation();
        builder.AddOpenCmMetrics();

        // Bodies over 1 MiB are refused (SPEC §2; WireBody counts too, for hosts without Kestrel
        // limits); connections are bounded below the open-file limit (issue #7.1).
        builder.WebHost.ConfigureKestrel((context, k) =>
        {
            k.Limits.MaxRequestBodySize = Wire.WireBody.MaxBytes;
            ConnectionLimits.Apply(k, context.Configuration.GetSection("Connections").Get<ConnectionOptions>() ?? new ConnectionOptions());
        });
        builder.AddOpenCmTls();

        services.AddSingleton<RefusedTokenLog>();
        services.AddOpenCmDataProtection();
        services.AddSingleton(sp => Section<RateLimitOptions>(sp, "RateLimits"));
        services.AddOpenCmRateLimits();
        services.AddOpenCmEst(builder.Configuration);
        services.AddOpenApi(o => o.AddSchemaTransformer(Wire.WireSchemas.DescribeAsync));

        // The OpenAPI document describes the contracts as they travel: the generated context, wire names unchanged.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = null;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, Contracts.WireJsonContext.Default);
        });
        services.AddHealthChecks().AddCheck<StorageReadiness>("storage", tags: [StorageReadiness.Tag]).AddCheck<DirectoryReadiness>("directory", tags: [StorageReadiness.Tag]);
        services.AddHostedService<CaNoticeLoop>();

        // Notifications and webhooks (issue #21.2): webhook receivers only from configuration; the loop delivers off the request path.
        services.AddSingleton(sp => Section<Notifications.WebhookOptions>(sp, Notifications.WebhookOptions.Section));
        services.AddSingleton<Notifications.WebhookChannel>();
        services.AddSingleton<INotificationChannel>(sp => sp.GetRequiredService<Notifications.WebhookChannel>());
        services.AddHostedService<NotificationLoop>();
        services.AddHostedService<CaReloadLoop>();
        // SCEP (issue #24.3): PKIOperation over the device enrollment engine.
        services.AddSingleton<Endpoints.IScepEnrollment, Endpoints.EngineScepEnrollment>();
        services.AddSingleton<Endpoints.ScepPkiOperation>();
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<TokenService, TimeProvider, AuthOptions>((o, tokens, clock, auth) => ConfigureJwt(o, auth, tokens, clock));
        services.AddOpenCmNegotiate(builder.Configuration);
        OpenCM.Acme.AcmeEndpoints.AddOpenCmAcme(services, builder.Configuration);
        services.TryAddSingleton(sp => OpenCM.Acme.AcmeNonceKey.FromDerived(sp.GetRequiredService<OpenCM.Storage.IMasterKeyProvider>().Load().DeriveKey(OpenCM.Acme.AcmeNonceKey.Label)));
        services.AddAuthorization();
        services.AddOpenCmPortal(builder.Configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions());

        // ACME http-01/dns-01 validation (issue #24.4): Acme:Http01Port and Acme:Dns01Resolver, checked here at start.
        services.AddOpenCmAcmeChallenges(builder.Configuration.GetSection(AcmeValidationOptions.Section).Get<AcmeValidationOptions>() ?? new());
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

    /// <summary>
    /// The settings appsettings.json carries that the server must have without it (issue #23.10): a
    /// published single file copied alone logs as quietly as a build. ASP.NET Core's own categories
    /// log from Warning, so that a health probe or any request writes no line ("Executing endpoint",
    /// "Executed endpoint") at the default level. The lowest-priority source: every file, the
    /// environment and the command line override it.
    /// </summary>
    public static void AddDefaultSettings(IConfigurationBuilder configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = DefaultSettings,
        });
    }

    /// <summary>The defaults <see cref="AddDefaultSettings"/> adds (as in src/OpenCM.Server/appsettings.json).</summary>
    public static IReadOnlyDictionary<string, string?> DefaultSettings { get; } = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
    };

    private static T Section<T>(IServiceProvider sp, string name)
        where T : new() => sp.GetRequiredService<IConfiguration>().GetSection(name).Get<T>() ?? new T();
}
