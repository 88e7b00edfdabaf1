using Microsoft.IdentityModel.Tokens;
using OpenCM.Authority;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The keys this server keeps in its secret store (the CA's and the token signer's), loaded once
/// by <see cref="OpenCmComposition.StartAsync"/> before anything serves, so that no DI factory
/// blocks on the database. The container disposes the CA signer it hands out.
/// </summary>
public sealed class ServerKeys
{
    private ICertificateSigner? _ca;
    private ECDsaSecurityKey? _token;

    public ICertificateSigner Ca => _ca ?? throw NotLoaded();

    public ECDsaSecurityKey TokenKey => _token ?? throw NotLoaded();

    /// <summary>Loads (making them on first start) both keys; a second call keeps what the first loaded.</summary>
    public async Task LoadAsync(SecretStore secrets, CaOptions ca, TimeProvider clock, CancellationToken ct)
    {
        _ca ??= await CaSetup.LoadOrCreateAsync(secrets, ca, clock, ct).ConfigureAwait(false);
        _token ??= await TokenService.LoadKeyAsync(secrets, ct).ConfigureAwait(false);
    }

    private static InvalidOperationException NotLoaded() =>
        new("The server's keys are not loaded: the host must run OpenCmComposition.StartAsync before serving.");
}
