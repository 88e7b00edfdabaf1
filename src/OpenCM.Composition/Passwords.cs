using Microsoft.AspNetCore.Identity;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Composition;

/// <summary>
/// Directory users' passwords for the portal's sign-in on the embedded default (issue #10):
/// hashed with ASP.NET Core Identity's hasher (PBKDF2 with HMAC-SHA512, salted, iterated, in its
/// versioned format, compared in constant time); the directory stores only the hash. Never logged.
/// </summary>
public sealed class Passwords
{
    /// <summary>Shorter passwords are refused: NIST SP 800-63B's minimum for a memorized secret.</summary>
    public const int MinimumLength = 8;

    public const int MaximumLength = 1024;

    private readonly PasswordHasher<Principal> _hasher = new();
    private readonly IDirectory _directory;
    private readonly IDirectoryAdministration _hashes;
    private readonly DirectoryAdministration _administration;
    private readonly IPortalSessions _sessions;

    public Passwords(IDirectory directory, IDirectoryAdministration hashes, DirectoryAdministration administration, IPortalSessions sessions)
    {
        _sessions = sessions;
        _directory = directory;
        _hashes = hashes;
        _administration = administration;
    }

    /// <summary>Sets <paramref name="user"/>'s password on behalf of <paramref name="who"/>; a password the rules refuse is a ValidationFailed naming <c>password</c>.</summary>
    public async Task SetAsync(AuditContext who, Principal user, string password, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (password is null || password.Length is < MinimumLength or > MaximumLength || password.Any(char.IsControl))
        {
            throw new OpenCmException(DomainError.Validation("password", $"A password is {MinimumLength} to {MaximumLength} characters, without control characters."));
        }

        if (user.Kind != PrincipalKind.User || !await _administration.SetPasswordHashAsync(who, user.Uuid, _hasher.HashPassword(user, password), ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.Validation("name", $"No user named '{user.Name}' exists."));
        }

        // A new password ends every portal session of the user (issue #18.6): whoever held the old one is out.
        await _sessions.EndAllAsync(user.Uuid, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The user a name and password sign in as, or null: an unknown name, a user without a
    /// password and a wrong password look alike (and cost alike: a hash is checked in each case).
    /// A hash brought up to date is audited as the user's own change, under <paramref name="correlationId"/>.
    /// </summary>
    public async Task<Principal?> VerifyAsync(string name, string password, string correlationId = "", CancellationToken ct = default)
    {
        var user = string.IsNullOrWhiteSpace(name) || name.Length > 256 ? null : await _directory.FindByNameAsync(name, ct).ConfigureAwait(false);
        var hash = user is { Kind: PrincipalKind.User } ? await _hashes.PasswordHashAsync(user.Uuid, ct).ConfigureAwait(false) : null;
        var result = _hasher.VerifyHashedPassword(user ?? Decoy, hash ?? DecoyHash, password ?? "");
        if (user is null || hash is null || result == PasswordVerificationResult.Failed)
        {
            return null;
        }

        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            // Stored under older parameters: brought up to date while the password is at hand.
            await _administration.SetPasswordHashAsync(new AuditContext(user.Uuid, correlationId), user.Uuid, _hasher.HashPassword(user, password!), ct).ConfigureAwait(false);
        }

        return user;
    }

    private static readonly Principal Decoy = new(Guid.Empty, "", OpenCM.Security.Sddl.Sid.Everyone, PrincipalKind.User);

    // A real hash of a random password, so that an unknown name takes as long as a wrong password.
    private static readonly string DecoyHash = new PasswordHasher<Principal>().HashPassword(Decoy, Guid.NewGuid().ToString("N"));
}
