using System.Security.Cryptography;
using System.Text;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Settings of the SCEP front-end (configuration section <c>Scep</c>; docs/scep.md).</summary>
public sealed class ScepOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Scep";

    /// <summary>Minutes a challenge password stays usable after it was issued (MIM CM's one-time password policy); 1 to 10080.</summary>
    public int ChallengeMinutes { get; set; } = 60;

    /// <summary>The largest SCEP message (a PKIOperation body, or its base64 in a GET) accepted, in bytes.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Days the RA certificate (the CMS envelope's recipient and the CertRep's signer) is valid; a new one is made at half.</summary>
    public int RaValidityDays { get; set; } = 365;
}

/// <summary>A challenge just issued: the secret (shown once, never stored) and when it expires.</summary>
public sealed record IssuedScepChallenge(string Secret, Guid TemplateUuid, Guid UserUuid, DateTimeOffset Expires);

/// <summary>
/// SCEP challenge passwords (RFC 8894 §2.3, issue #24.3): one-time secrets OpenCM issues per
/// enrollment, bound to a template that allows SCEP and to the user the certificate is for. Only
/// the SHA-256 of a 128-bit random secret is stored; one expires after <see cref="ScepOptions.ChallengeMinutes"/>
/// and is used by one SCEP transaction, whose resends (and polls) find it again.
/// </summary>
public sealed class ScepChallenges
{
    private const int MaxSecretLength = 255;
    private readonly IScepChallengeStore _store;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly ScepOptions _options;
    private readonly TimeProvider _clock;

    public ScepChallenges(IScepChallengeStore store, ITemplateStore templates, IDirectory directory, ScepOptions options, TimeProvider clock)
    {
        _store = store;
        _templates = templates;
        _directory = directory;
        _options = options;
        _clock = clock;
    }

    /// <summary>
    /// A new challenge for the template labelled <paramref name="templateLabel"/> (which must allow
    /// SCEP) and the directory user <paramref name="userUuid"/>; ValidationFailed naming
    /// <c>template</c> or <c>user</c> otherwise.
    /// </summary>
    public Task<IssuedScepChallenge> IssueAsync(string templateLabel, Guid userUuid, string issuedBy, CancellationToken ct = default) =>
        IssueAsync(templateLabel, userUuid, new AuditContext(Guid.Empty, $"scep-{Guid.NewGuid():N}", issuedBy), ct);

    /// <summary>
    /// A new challenge issued by <paramref name="who"/> (the CLI's local operator), written with its
    /// <c>ScepChallengeIssued</c> audit event in one transaction; the event names the template and
    /// the expiry, never the secret.
    /// </summary>
    public async Task<IssuedScepChallenge> IssueAsync(string templateLabel, Guid userUuid, AuditContext who, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(templateLabel);
        ArgumentNullException.ThrowIfNull(who);
        var issuedBy = who.Operator ?? who.Actor.ToString("D");
        var template = await FindTemplateAsync(templateLabel, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(DomainError.Validation("template", $"No template labelled '{Printable(templateLabel)}' allows SCEP."));
        if (await _directory.FindAsync(userUuid, ct).ConfigureAwait(false) is not { Kind: PrincipalKind.User })
        {
            throw new OpenCmException(DomainError.Validation("user", "The challenge's user is not a directory user."));
        }

        var minutes = _options.ChallengeMinutes is >= 1 and <= 7 * 24 * 60 ? _options.ChallengeMinutes : 60;
        var now = _clock.GetUtcNow();
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var challenge = new ScepChallenge(Hash(secret), template.Uuid, userUuid, issuedBy.Length > 200 ? issuedBy[..200] : issuedBy, now, now.AddMinutes(minutes));
        var audit = new AuditEvent("ScepChallengeIssued", userUuid, who.Actor, RequestStatus.None, RequestStatus.None, now, who.CorrelationId,
            who.Detail(FormattableString.Invariant($"template={template.Uuid:D} expires={challenge.Expires:O}")));
        await _store.AddAsync(challenge, now, audit, ct).ConfigureAwait(false);
        return new IssuedScepChallenge(secret, template.Uuid, userUuid, challenge.Expires);
    }

    /// <summary>
    /// The challenge <paramref name="secret"/> names, used now by the transaction
    /// (<paramref name="transactionId"/>, <paramref name="keyHash"/>), or already used by that same
    /// transaction (a client's resend); null when it is unknown, expired, or was used by another.
    /// </summary>
    public async Task<ScepChallenge?> RedeemAsync(string secret, string transactionId, string keyHash, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(transactionId);
        ArgumentNullException.ThrowIfNull(keyHash);
        if (string.IsNullOrEmpty(secret) || secret.Length > MaxSecretLength)
        {
            return null;
        }

        // Issued as upper-case hex; a person may type it in lower case.
        var hash = Hash(secret.Trim().ToUpperInvariant());
        var found = await _store.FindAsync(hash, ct).ConfigureAwait(false);

        // The store found it by its hash; comparing again in constant time keeps a (theoretical) index-timing difference out of the answer.
        if (found is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(found.Hash), Encoding.ASCII.GetBytes(hash)))
        {
            return null;
        }

        if (found.Used is null && await _store.TryRedeemAsync(hash, transactionId, keyHash, _clock.GetUtcNow(), ct).ConfigureAwait(false))
        {
            return found with { Used = _clock.GetUtcNow(), TransactionId = transactionId, KeyHash = keyHash };
        }

        // Used (now, by a concurrent resend, or before): only the same transaction may go on with it.
        var again = await _store.FindAsync(hash, ct).ConfigureAwait(false);
        return again is { Used: not null } && string.Equals(again.TransactionId, transactionId, StringComparison.Ordinal) && string.Equals(again.KeyHash, keyHash, StringComparison.Ordinal)
            ? again
            : null;
    }

    /// <summary>The challenge an earlier message of this transaction used (a CertPoll's way back to its enrollment), or null.</summary>
    public Task<ScepChallenge?> FindByTransactionAsync(string transactionId, string keyHash, CancellationToken ct = default) =>
        _store.FindByTransactionAsync(transactionId, keyHash, ct);

    /// <summary>The template with that label that allows SCEP (exactly one; two sharing a label serve neither), or null.</summary>
    public async Task<ProfileTemplate?> FindTemplateAsync(string label, CancellationToken ct = default)
    {
        var matches = (await _templates.ListAsync(ct).ConfigureAwait(false))
            .Where(t => t.Allows(EnrollmentProtocol.Scep) && string.Equals(TemplateLabels.Of(t.Name), label, StringComparison.Ordinal))
            .Take(2).ToList();
        return matches.Count == 1 ? matches[0] : null;
    }

    /// <summary>How a secret is stored: the SHA-256 of its UTF-8, lower-case hex.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Printable(string text)
    {
        var kept = new string([.. text.Take(80).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return kept;
    }
}
