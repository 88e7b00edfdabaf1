using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.ActiveDirectory;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The one place the directory source is chosen (issue #19): <c>Directory:Source</c> is
/// <c>embedded</c> (the default: OpenCM's own users and groups, kept by the storage) or
/// <c>ldap</c> (Active Directory, read-only from OpenCM, settings under <c>Directory:Ldap</c>).
/// Read when first needed, so hosts and tests may still add configuration.
/// </summary>
public static class DirectoryChoice
{
    public const string Embedded = "embedded";
    public const string Ldap = "ldap";

    /// <summary>The source a configured name chooses; anything but the two names is refused.</summary>
    public static string Source(string? configured) => configured?.Trim().ToLowerInvariant() switch
    {
        null or "" or Embedded => Embedded,
        Ldap or "activedirectory" or "ad" => Ldap,
        _ => throw new ConfigurationRefusedException($"Directory:Source is '{configured}'; it is 'embedded' or 'ldap'."),
    };

    public static IServiceCollection AddOpenCmDirectory(this IServiceCollection services)
    {
        services.AddSingleton(sp => Source(sp.GetRequiredService<IConfiguration>()["Directory:Source"]) == Ldap ? DirectorySource.Ldap : DirectorySource.Embedded);
        services.AddSingleton(sp => new LdapDirectory(
            sp.GetRequiredService<IConfiguration>().GetSection("Directory:Ldap").Get<LdapOptions>() ?? new LdapOptions(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IDirectory>(sp => sp.GetRequiredService<DirectorySource>().Administered
            ? sp.GetRequiredService<SqlDirectory>()
            : sp.GetRequiredService<LdapDirectory>());
        services.AddSingleton<IDirectoryAdministration>(sp => sp.GetRequiredService<DirectorySource>().Administered
            ? sp.GetRequiredService<SqlDirectory>()
            : new ReadOnlyDirectoryAdministration(sp.GetRequiredService<DirectorySource>()));
        return services;
    }

    /// <summary>Readiness of the directory: the embedded one is the database's (checked with it); AD must answer now.</summary>
    public static async Task<(bool Ready, string Detail)> ReadyAsync(IServiceProvider services, CancellationToken ct)
    {
        var source = services.GetRequiredService<DirectorySource>();
        if (source.Administered)
        {
            return (true, source.Name);
        }

        return await services.GetRequiredService<LdapDirectory>().ProbeAsync(ct).ConfigureAwait(false)
            ? (true, source.Name)
            : (false, $"{source.Name} does not answer");
    }

    /// <summary>
    /// At start, with an LDAP source: the bind and the base work, or the server does not start,
    /// saying what to fix (a wrong password is not a 503 on every later call).
    /// </summary>
    public static async Task CheckAsync(IServiceProvider services, CancellationToken ct)
    {
        if (services.GetRequiredService<DirectorySource>().Administered)
        {
            return;
        }

        try
        {
            // The directory the use cases read (a host or a test may have put another read-only one in its place).
            if (services.GetRequiredService<IDirectory>() is LdapDirectory ldap)
            {
                await ldap.CheckAsync(ct).ConfigureAwait(false);
            }
        }
        catch (LdapConfigurationException e)
        {
            throw new ConfigurationRefusedException(e.Message, e);
        }
    }
}

/// <summary>
/// What a read-only directory answers where the embedded one is administered: no user list
/// (they are the directory's own) and no portal passwords (AD users sign in with Kerberos or the
/// OIDC authority), so a password sign-in finds nobody, as for any unknown name.
/// </summary>
internal sealed class ReadOnlyDirectoryAdministration(DirectorySource source) : IDirectoryAdministration
{
    public Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default)
    {
        source.EnsureAdministered();
        return Task.FromResult<IReadOnlyList<DirectoryUser>>([]);
    }

    public Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default) => Task.FromResult<string?>(null);

    // The directory's own search is not asked: the help desk finds its users by their exact name, card or serial.
    public Task<IReadOnlyList<Principal>> UsersNamedLikeAsync(string part, int max, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);
}
