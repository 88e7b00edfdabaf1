using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OpenCM.Application;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>Authentication settings (configuration section <c>Auth</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Auth";

    /// <summary>Issuer and audience of the tokens this server mints itself.</summary>
    public string Issuer { get; set; } = "opencm";

    public string Audience { get; set; } = "opencm";

    /// <summary>An OIDC authority (ADFS, Entra ID, Keycloak…) whose tokens are also accepted.</summary>
    public string? Authority { get; set; }

    /// <summary>The audience the authority's tokens must carry.</summary>
    public string? AuthorityAudience { get; set; }

    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>
    /// The portal's client id at the authority: set, the sign-in page offers the authority's
    /// sign-in (authorization code flow with PKCE) beside directory passwords (issue #10.1).
    /// </summary>
    public string? PortalClientId { get; set; }

    /// <summary>The portal's client secret, for authorities that make it a confidential client (ADFS, Entra ID); none for a public client.</summary>
    public string? PortalClientSecret { get; set; }

    /// <summary>Scopes asked for besides <c>openid</c>, space-separated.</summary>
    public string PortalScopes { get; set; } = "profile";

    /// <summary>What the sign-in button calls the authority ("Sign in with …").</summary>
    public string PortalDisplayName { get; set; } = "your organisation's account";

    /// <summary>Whether the portal signs in with the authority.</summary>
    public bool PortalUsesAuthority => !string.IsNullOrEmpty(Authority) && !string.IsNullOrEmpty(PortalClientId);

    /// <summary>
    /// A portal session's absolute lifetime in hours (issue #18.6): beside the sliding 8 hours of
    /// inactivity, a session ends this long after sign-in, however active.
    /// </summary>
    public double PortalSessionMaxHours { get; set; } = 12;

    /// <summary>How many validated tokens are remembered until they expire (0 turns the cache off).</summary>
    public int TokenCacheSize { get; set; } = 10_000;

    /// <summary>Longest lifetime <c>opencm token</c> will mint.</summary>
    public int MaxLocalTokenMinutes { get; set; } = 24 * 60;
}

/// <summary>
/// The server's own token key (ECDSA P-256, kept encrypted in the secret store) and the minting
/// of short-lived tokens for directory users (<c>opencm token</c>, SPEC §5).
/// </summary>
public sealed class TokenService
{
    public const string SecretName = "token-signing-key";
    private readonly TimeProvider _clock;
    private readonly AuthOptions _options;

    /// <summary>A token service signing with <paramref name="signingKey"/> (see <see cref="LoadKeyAsync"/>).</summary>
    public TokenService(ECDsaSecurityKey signingKey, TimeProvider clock, AuthOptions options)
    {
        SigningKey = signingKey;
        _clock = clock;
        _options = options;
    }

    /// <summary>The server's token key from the secret store, made and stored there on first use.</summary>
    public static async Task<ECDsaSecurityKey> LoadKeyAsync(SecretStore secrets, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var pkcs8 = await secrets.GetOrCreateAsync(SecretName, () =>
        {
            using var fresh = OpenCM.Authority.Keys.Generate(OpenCM.Domain.KeyAlgorithm.EcdsaP256);
            return fresh.ExportPkcs8PrivateKey();
        }, ct).ConfigureAwait(false);
        var ecdsa = ECDsa.Create();
        ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
        CryptographicOperations.ZeroMemory(pkcs8);
        var kid = Base64UrlEncoder.Encode(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo()))[..22];
        return new ECDsaSecurityKey(ecdsa) { KeyId = kid };
    }

    public ECDsaSecurityKey SigningKey { get; }

    /// <summary>A JWT for <paramref name="user"/> carrying its SID and group SIDs in the claims ADFS uses.</summary>
    public string Mint(Principal user, IReadOnlyList<Principal> groups, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(groups);
        if (lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromMinutes(_options.MaxLocalTokenMinutes))
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"A token lives between 1 and {_options.MaxLocalTokenMinutes} minutes.");
        }

        var now = _clock.GetUtcNow().UtcDateTime;
        var claims = new Dictionary<string, object>
        {
            [ClaimNames.Subject] = user.Uuid.ToString("D"),
            [ClaimNames.Name] = user.Name,
            [ClaimNames.PrimarySid] = user.Sid.Value,
            [ClaimNames.GroupSid] = groups.Select(g => g.Sid.Value).ToArray(),
            [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
        };
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(SigningKey, SecurityAlgorithms.EcdsaSha256),
        });
    }
}

/// <summary>Claim names OpenCM reads: the short JWT names and the URIs ADFS issues (SPEC §5).</summary>
public static class ClaimNames
{
    public const string Subject = "sub";
    public const string Name = "name";
    public const string ObjectGuid = "objectguid";
    public const string Oid = "oid";
    public const string PrimarySid = "primarysid";
    public const string GroupSid = "groupsid";
    public const string PrimarySidUri = ClaimTypes.PrimarySid;
    public const string GroupSidUri = ClaimTypes.GroupSid;
    public const string ObjectGuidUri = "http://schemas.microsoft.com/identity/claims/objectidentifier";
}
