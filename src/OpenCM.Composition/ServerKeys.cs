using Microsoft.IdentityModel.Tokens;
using OpenCM.Authority;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The keys this server keeps (its CAs' and the token signer's), loaded once by
/// <see cref="OpenCmComposition.StartAsync"/> before anything serves, so that no DI factory
/// blocks on the database. The container disposes the CAs it hands out.
/// </summary>
public sealed class ServerKeys
{
    private CertificateAuthorities? _authorities;
    private ECDsaSecurityKey? _token;

    /// <summary>Every CA this server holds (issue #20.1).</summary>
    public CertificateAuthorities Authorities => _authorities ?? throw NotLoaded();

    public ECDsaSecurityKey TokenKey => _token ?? throw NotLoaded();

    /// <summary>Loads (making them on first start) the CAs and the token key; a second call keeps what the first loaded.</summary>
    public async Task LoadAsync(CaContext ca, SecretStore secrets, CancellationToken ct)
    {
        _authorities ??= await CaSetup.LoadAsync(ca, ct).ConfigureAwait(false);
        _token ??= await TokenService.LoadKeyAsync(secrets, ct).ConfigureAwait(false);
    }

    private static InvalidOperationException NotLoaded() =>
        new("The server's keys are not loaded: the host must run OpenCmComposition.StartAsync before serving.");
}
