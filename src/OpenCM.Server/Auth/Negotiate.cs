using System.ComponentModel;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Auth;

/// <summary>Windows Integrated Authentication (configuration section <c>Auth:Negotiate</c>, issue #19).</summary>
public sealed class NegotiateOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Auth:Negotiate";

    /// <summary>Accept <c>Authorization: Negotiate</c> (Kerberos) on the API, beside bearer tokens.</summary>
    public bool Enabled { get; set; }

    /// <summary>The service's keytab (its <c>HTTP/host</c> key); else KRB5_KTNAME from the environment.</summary>
    public string Keytab { get; set; } = "";

    /// <summary>The Kerberos configuration (realm, KDC); else KRB5_CONFIG from the environment, else /etc/krb5.conf.</summary>
    public string Krb5Config { get; set; } = "";
}

/// <summary>
/// <c>Authorization: Negotiate</c> over the runtime's own <see cref="NegotiateAuthentication"/>
/// (issue #19; as ASP.NET Core's Negotiate handler does, which the package mirror does not
/// serve): one authentication state per connection, kept in its items and disposed when it
/// closes; a 401 with <c>WWW-Authenticate: Negotiate &lt;token&gt;</c> while more legs are
/// needed; the authenticated <c>user@REALM</c> is the directory's user (by UPN, then by account
/// name), whose SID and groups the directory gives (the ticket carries none on Linux). A token
/// that is not base64 is a 400, one GSSAPI refuses a 401; no token is ever logged.
/// </summary>
internal sealed class NegotiateHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    public const string SchemeName = "Negotiate";
    private const string Prefix = "Negotiate ";
    private const string StateKey = "opencm.negotiate";
    private readonly IDirectory _directory;
    private readonly AuthOptions _auth;

    public NegotiateHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IDirectory directory, AuthOptions auth)
        : base(options, logger, encoder)
    {
        _directory = directory;
        _auth = auth;
    }

    /// <summary>Whether a request carries Negotiate credentials (the API's scheme selector asks).</summary>
    public static bool Carries(HttpContext http) =>
        http.Request.Headers.Authorization.ToString().StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        // 1. Negotiate authenticates a connection: HTTP/1.1 only (docs: a load balancer in front is TCP-level or sticky).
        if (!HttpProtocol.IsHttp11(Request.Protocol) && !HttpProtocol.IsHttp10(Request.Protocol))
        {
            return Refuse("Negotiate authentication needs HTTP/1.1.");
        }

        byte[] incoming;
        try
        {
            incoming = Convert.FromBase64String(header[Prefix.Length..].Trim());
        }
        catch (FormatException)
        {
            return Refuse("The Negotiate token is not base64.");
        }

        // 2. The connection's state: a new exchange for each first leg.
        var items = Context.Features.Get<IConnectionItemsFeature>()?.Items;
        var state = items?.TryGetValue(StateKey, out var kept) == true ? kept as NegotiateAuthentication : null;
        if (state is null || state.IsAuthenticated)
        {
            state?.Dispose();
            state = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions());
            if (items is not null)
            {
                items[StateKey] = state;
                Context.Features.Get<IConnectionCompleteFeature>()?.OnCompleted(s => { ((IDisposable)s).Dispose(); return Task.CompletedTask; }, state);
            }
            else
            {
                Context.Response.RegisterForDispose(state);
            }
        }

        byte[]? outgoing;
        NegotiateAuthenticationStatusCode status;
        try
        {
            outgoing = state.GetOutgoingBlob(incoming, out status);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or PlatformNotSupportedException)
        {
            status = NegotiateAuthenticationStatusCode.GenericFailure;
            outgoing = null;
        }

        // 3. More legs: the next token goes back in the challenge.
        if (status == NegotiateAuthenticationStatusCode.ContinueNeeded)
        {
            Context.Items[StateKey] = outgoing;
            return AuthenticateResult.Fail("Negotiate continues.");
        }

        if (status != NegotiateAuthenticationStatusCode.Completed || state.RemoteIdentity.Name is not { Length: > 0 } name)
        {
            items?.Remove(StateKey);
            state.Dispose();
            Logger.LogInformation("A Negotiate token was refused ({Status}).", status);
            return AuthenticateResult.Fail("The Negotiate token was refused.");
        }

        // 4. Who: the directory's user of that principal name (user@REALM), by UPN, then by account.
        if (outgoing is { Length: > 0 })
        {
            Response.Headers.WWWAuthenticate = Prefix + Convert.ToBase64String(outgoing);
        }

        var user = await _directory.FindByNameAsync(name, Context.RequestAborted).ConfigureAwait(false)
            ?? await _directory.FindByNameAsync(name.Split('@')[0], Context.RequestAborted).ConfigureAwait(false);
        if (user is not { Kind: PrincipalKind.User })
        {
            return AuthenticateResult.Fail("The Kerberos principal is not a user of the directory.");
        }

        // The directory is the truth for who the user is now, as for this server's own tokens.
        var identity = new ClaimsIdentity(
            [new Claim(ClaimNames.ObjectGuid, user.Uuid.ToString("D")), new Claim(ClaimNames.Name, user.Name), new Claim("iss", _auth.Issuer), new Claim("amr", "kerberos")],
            SchemeName, ClaimNames.Name, null);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // A header that is no Negotiate token at all is the client's error (400); otherwise a 401
        // whose WWW-Authenticate carries the next leg, or offers Negotiate and Bearer afresh.
        if (Context.Items.TryGetValue(StateKey + ".refused", out var why) && why is string malformed)
        {
            return Problems.WriteAsync(Context, DomainError.Validation("Authorization", malformed));
        }

        if (Context.Items.TryGetValue(StateKey, out var blob) && blob is byte[] { Length: > 0 } next)
        {
            Response.Headers.WWWAuthenticate = Prefix + Convert.ToBase64String(next);
        }

        return Problems.WriteAsync(Context, new DomainError(ErrorKind.Unauthenticated, "Negotiate (Kerberos) authentication did not succeed."));
    }

    private AuthenticateResult Refuse(string why)
    {
        Context.Items[StateKey + ".refused"] = why;
        return AuthenticateResult.Fail(why);
    }

    /// <summary>
    /// Whether the process environment turns MIT Kerberos's replay cache off: the rcache type
    /// <c>none</c> (KRB5RCACHETYPE), or a KRB5RCACHENAME of that type (<c>none:</c>, MIT 1.18+).
    /// </summary>
    public static bool ReplayCacheOff(string? rcacheType, string? rcacheName) =>
        string.Equals(rcacheType?.Trim(), "none", StringComparison.OrdinalIgnoreCase)
        || (rcacheName?.Trim().StartsWith("none:", StringComparison.OrdinalIgnoreCase) ?? false);

    /// <summary>
    /// Points GSSAPI at the service's keytab and Kerberos configuration before it is first used:
    /// it reads them from the process environment, which .NET's own environment does not change
    /// on Unix, so they are set natively (issue #19: "set before the process first touches GSSAPI").
    /// </summary>
    public static void PrepareEnvironment(NegotiateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        if (options.Keytab.Length > 0)
        {
            _ = NativeEnvironment.setenv("KRB5_KTNAME", "FILE:" + Path.GetFullPath(options.Keytab), 1);
        }

        if (options.Krb5Config.Length > 0)
        {
            _ = NativeEnvironment.setenv("KRB5_CONFIG", Path.GetFullPath(options.Krb5Config), 1);
        }
    }

}

/// <summary>The C library's environment, which GSSAPI reads (.NET's own does not change it on Unix).</summary>
internal static partial class NativeEnvironment
{
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int setenv(string name, string value, int overwrite);
}

/// <summary>Registers Negotiate on the API when <c>Auth:Negotiate:Enabled</c> (issue #19).</summary>
internal static class NegotiateServices
{
    /// <summary>The API's scheme when Negotiate is on: Negotiate for a request that carries it, else bearer tokens.</summary>
    public const string ApiScheme = "OpenCM";

    public static IServiceCollection AddOpenCmNegotiate(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Auth:Negotiate").Get<NegotiateOptions>() ?? new NegotiateOptions();
        services.AddSingleton(options);
        if (!options.Enabled)
        {
            return services;
        }

        // On Linux a Kerberos ticket carries no SIDs or groups: only Active Directory gives them.
        if (DirectoryChoice.Source(configuration["Directory:Source"]) != DirectoryChoice.Ldap)
        {
            throw new ConfigurationRefusedException("Auth:Negotiate:Enabled needs Directory:Source=ldap: a Kerberos user's SID and groups come from Active Directory.");
        }

        // A replayed token is refused by MIT's replay cache alone (docs/security.md): not with it off.
        if (NegotiateHandler.ReplayCacheOff(Environment.GetEnvironmentVariable("KRB5RCACHETYPE"), Environment.GetEnvironmentVariable("KRB5RCACHENAME")))
        {
            throw new ConfigurationRefusedException("Auth:Negotiate:Enabled with Kerberos's replay cache off (KRB5RCACHETYPE=none or KRB5RCACHENAME=none:): a captured Negotiate token could be used again; unset it (docs/security.md).");
        }

        NegotiateHandler.PrepareEnvironment(options);
        services.AddAuthentication(o => o.DefaultScheme = ApiScheme)
            .AddScheme<AuthenticationSchemeOptions, NegotiateHandler>(NegotiateHandler.SchemeName, null)
            .AddPolicyScheme(ApiScheme, "Negotiate or bearer", o => o.ForwardDefaultSelector = http =>
                NegotiateHandler.Carries(http) ? NegotiateHandler.SchemeName : Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerDefaults.AuthenticationScheme);
        return services;
    }
}
