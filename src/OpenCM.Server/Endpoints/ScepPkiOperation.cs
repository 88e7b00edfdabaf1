using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Scep;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>What SCEP needs of the device enrollment engine (issue #24.1); <see cref="EngineScepEnrollment"/> is the one implementation, tests give fakes.</summary>
internal interface IScepEnrollment
{
    /// <summary>The caller a directory user is (the challenge's user, a renewed certificate's owner), or null when it is no user.</summary>
    Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct);

    /// <summary>Submits a PKCS#10 for the template; a transactionID this caller already used resumes that enrollment.</summary>
    Task<DeviceOutcome> SubmitAsync(Caller caller, Guid templateUuid, byte[] certificateRequest, string transactionId, string comment, string correlationId, CancellationToken ct);

    /// <summary>Where the caller's enrollment of that transactionID stands (issuing it once approved); null when there is none.</summary>
    Task<DeviceOutcome?> PollAsync(Caller caller, string transactionId, string correlationId, CancellationToken ct);
}

/// <summary>
/// SCEP's PKIOperation (RFC 8894 §3.3): opens the client's pkiMessage, finds who it enrolls for
/// (a PKCSReq's one-time challenge password; a RenewalReq's signing certificate, which OpenCM
/// issued and is current), drives the device enrollment, and answers a CertRep signed by the RA:
/// SUCCESS with the certificate enveloped for the requester, PENDING while approvers have not
/// decided (the client's resend or CertPoll of the same transactionID asks again), or FAILURE
/// with a failInfo (<see cref="ScepFailures"/>, the one mapping from <see cref="ErrorKind"/>).
/// Nothing is created for a message that fails before the enrollment.
/// </summary>
internal sealed class ScepPkiOperation
{
    private const string ChallengePasswordOid = "1.2.840.113549.1.9.7";
    private readonly ScepRaKeys _ras;
    private readonly ScepChallenges _challenges;
    private readonly IScepEnrollment _enrollment;
    private readonly CertificateAuthorities _authorities;
    private readonly IProfileStore _profiles;
    private readonly TimeProvider _clock;
    private readonly ILogger<ScepPkiOperation> _log;

    public ScepPkiOperation(ScepRaKeys ras, ScepChallenges challenges, IScepEnrollment enrollment, CertificateAuthorities authorities, IProfileStore profiles, TimeProvider clock, ILogger<ScepPkiOperation> log)
    {
        _ras = ras;
        _challenges = challenges;
        _enrollment = enrollment;
        _authorities = authorities;
        _profiles = profiles;
        _clock = clock;
        _log = log;
    }

    /// <summary>The CertRep to <paramref name="message"/>; a message with nothing to answer to (not CMS, no transactionID) is a ValidationFailed (400).</summary>
    public async Task<byte[]> AnswerAsync(byte[] message, HttpContext http, CancellationToken ct)
    {
        var recipients = await _ras.RecipientsAsync(ct).ConfigureAwait(false);
        ScepRequest request;
        try
        {
            request = ScepMessages.Read(message, recipients);
        }
        catch (ScepMessageException refused) when (refused.Header is { } header)
        {
            _log.LogInformation("SCEP message refused ({FailInfo}): {Reason}", refused.FailInfo, refused.Message);
            return ScepMessages.CertRep(header, recipients[0], ScepStatus.Failure, refused.FailInfo);
        }
        catch (ScepMessageException refused)
        {
            throw new OpenCmException(DomainError.Validation("message", refused.Message));
        }

        var ra = request.OpenedBy ?? recipients[0];
        try
        {
            var outcome = await EnrollAsync(request, http, ct).ConfigureAwait(false);
            return outcome switch
            {
                DeviceOutcome.Issued issued => ScepMessages.CertRep(request.Header, ra, ScepStatus.Success, issued: issued.Certificate.Der),
                _ => ScepMessages.CertRep(request.Header, ra, ScepStatus.Pending),
            };
        }
        catch (ScepRefusal refusal)
        {
            _log.LogInformation("SCEP {Type} {Transaction} refused ({FailInfo}): {Reason}", request.Type, request.Header.TransactionId, refusal.FailInfo, refusal.Message);
            return ScepMessages.CertRep(request.Header, ra, ScepStatus.Failure, refusal.FailInfo);
        }
        catch (OpenCmException refused) when (ScepFailures.Of(refused.Error.Kind) is { } failInfo)
        {
            _log.LogInformation("SCEP {Type} {Transaction} refused ({FailInfo}): {Kind} {Field} {Detail}", request.Type, request.Header.TransactionId, failInfo, refused.Error.Kind, refused.Error.Field, refused.Error.Detail);
            return ScepMessages.CertRep(request.Header, ra, ScepStatus.Failure, failInfo);
        }
    }

    private async Task<DeviceOutcome> EnrollAsync(ScepRequest request, HttpContext http, CancellationToken ct)
    {
        var transaction = request.Header.TransactionId;
        var comment = $"SCEP {request.Type} from {http.Connection.RemoteIpAddress}";
        switch (request.Type)
        {
            case ScepMessageType.PKCSReq:
            {
                var csr = Csr(request.Content);

                // The requester proves the CSR's key: the self-signed certificate that signed the message has it (RFC 8894 §2.3).
                if (!csr.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(request.Header.Signer.PublicKey.ExportSubjectPublicKeyInfo()))
                {
                    throw new ScepRefusal(ScepFailInfo.BadMessageCheck, "The message is not signed with the CSR's key.");
                }

                var password = ChallengePassword(csr) ?? throw new ScepRefusal(ScepFailInfo.BadRequest, "The CSR has no challengePassword.");
                var challenge = await _challenges.RedeemAsync(password, transaction, request.SignerKeyHash, ct).ConfigureAwait(false)
                    ?? throw new ScepRefusal(ScepFailInfo.BadRequest, "The challenge password is unknown, expired or used by another transaction.");
                var caller = await _enrollment.CallerAsync(challenge.UserUuid, ct).ConfigureAwait(false)
                    ?? throw new ScepRefusal(ScepFailInfo.BadRequest, "The challenge's user is no longer in the directory.");
                return await _enrollment.SubmitAsync(caller, challenge.TemplateUuid, request.Content, transaction, comment, http.CorrelationId(), ct).ConfigureAwait(false);
            }

            case ScepMessageType.RenewalReq:
            {
                _ = Csr(request.Content);
                var (caller, templateUuid) = await RenewerAsync(request.Header.Signer, ct).ConfigureAwait(false);
                return await _enrollment.SubmitAsync(caller, templateUuid, request.Content, RenewalReference(request), comment, http.CorrelationId(), ct).ConfigureAwait(false);
            }

            case ScepMessageType.CertPoll:
            {
                if (ScepMessages.IssuerAndSubject(request.Content) is null)
                {
                    throw new ScepRefusal(ScepFailInfo.BadRequest, "CertPoll's messageData is not an IssuerAndSubject.");
                }

                Caller caller;
                var reference = transaction;
                if (IsSelfSigned(request.Header.Signer))
                {
                    var challenge = await _challenges.FindByTransactionAsync(transaction, request.SignerKeyHash, ct).ConfigureAwait(false)
                        ?? throw new ScepRefusal(ScepFailInfo.BadCertId, "No enrollment of this transaction and key.");
                    caller = await _enrollment.CallerAsync(challenge.UserUuid, ct).ConfigureAwait(false)
                        ?? throw new ScepRefusal(ScepFailInfo.BadRequest, "The challenge's user is no longer in the directory.");
                }
                else
                {
                    caller = (await RenewerAsync(request.Header.Signer, ct).ConfigureAwait(false)).Caller;
                    reference = RenewalReference(request);
                }

                return await _enrollment.PollAsync(caller, reference, http.CorrelationId(), ct).ConfigureAwait(false)
                    ?? throw new ScepRefusal(ScepFailInfo.BadCertId, "No enrollment of this transaction.");
            }

            default:
                // UpdateReq (RFC 8894 has none; draft-era clients), GetCert and GetCRL: not offered (GetCACaps does not list them).
                throw new ScepRefusal(ScepFailInfo.BadRequest, $"{request.Type} is not supported.");
        }
    }

    // A renewal's enrollment is its transaction with the certificate it renews: clients that derive the
    // transactionID from the key (micromdm's scepclient does) renew with the same key under the same one.
    private static string RenewalReference(ScepRequest request) => request.Header.TransactionId + "/" + request.Header.Signer.SerialNumber;

    // A renewal's signer: a certificate an OpenCM CA issued, current in the store, within its validity now; its owner renews for its template.
    private async Task<(Caller Caller, Guid TemplateUuid)> RenewerAsync(X509Certificate2 signer, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        if (_authorities.IssuerOf(signer.RawData) is not { } ca || !SignedBy(signer, ca.Signer.Certificate))
        {
            throw new ScepRefusal(ScepFailInfo.BadCertId, "The renewal is not signed with a certificate this server issued.");
        }

        if (now < signer.NotBefore.ToUniversalTime() || now > signer.NotAfter.ToUniversalTime())
        {
            throw new ScepRefusal(ScepFailInfo.BadTime, "The certificate that signs the renewal is not valid now.");
        }

        var stored = await _profiles.CertificateBySerialAsync(signer.SerialNumber, ct).ConfigureAwait(false);
        if (stored is not { Status: CertificateStatus.Current } || !stored.Certificate.Der.AsSpan().SequenceEqual(signer.RawData)
            || await _profiles.FindAsync(stored.ProfileUuid, ct).ConfigureAwait(false) is not { } profile)
        {
            throw new ScepRefusal(ScepFailInfo.BadCertId, "The certificate that signs the renewal is not a current one of this server.");
        }

        var caller = await _enrollment.CallerAsync(stored.UserUuid, ct).ConfigureAwait(false)
            ?? throw new ScepRefusal(ScepFailInfo.BadRequest, "The certificate's owner is no longer in the directory.");
        return (caller, profile.TemplateUuid);
    }

    private static bool SignedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid | X509VerificationFlags.AllowUnknownCertificateAuthority;
        return chain.Build(certificate) && chain.ChainElements.Count >= 2 && chain.ChainElements[1].Certificate.RawData.AsSpan().SequenceEqual(ca.RawData);
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);

    // The messageData of PKCSReq and RenewalReq: one PKCS#10 whose own signature holds.
    private static CertificateRequest Csr(byte[] der)
    {
        try
        {
            return CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, out var used, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions) is { } csr && used == der.Length
                ? csr
                : throw new ScepRefusal(ScepFailInfo.BadRequest, "The messageData is not one PKCS#10 request.");
        }
        catch (CryptographicException e)
        {
            throw new ScepRefusal(ScepFailInfo.BadRequest, "The messageData is not a PKCS#10 request whose signature holds: " + e.Message);
        }
    }

    // The CSR's challengePassword attribute (PKCS#9, a DirectoryString); null when absent or unreadable.
    private static string? ChallengePassword(CertificateRequest csr)
    {
        var attributes = csr.OtherRequestAttributes.Where(a => a.Oid?.Value == ChallengePasswordOid).ToList();
        if (attributes.Count != 1)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(attributes[0].RawData, AsnEncodingRules.BER);
            var tag = reader.PeekTag();
            var text = tag.TagValue switch
            {
                (int)UniversalTagNumber.UTF8String => reader.ReadCharacterString(UniversalTagNumber.UTF8String),
                (int)UniversalTagNumber.PrintableString => reader.ReadCharacterString(UniversalTagNumber.PrintableString),
                (int)UniversalTagNumber.IA5String => reader.ReadCharacterString(UniversalTagNumber.IA5String),
                (int)UniversalTagNumber.T61String => reader.ReadCharacterString(UniversalTagNumber.T61String),
                (int)UniversalTagNumber.BMPString => reader.ReadCharacterString(UniversalTagNumber.BMPString),
                _ => null,
            };
            reader.ThrowIfNotEmpty();
            return text;
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException)
        {
            return null;
        }
    }
}

/// <summary>A refusal SCEP answers with a CertRep FAILURE of this failInfo.</summary>
internal sealed class ScepRefusal : Exception
{
    public ScepRefusal(ScepFailInfo failInfo, string message)
        : base(message) => FailInfo = failInfo;

    public ScepRefusal()
    {
    }

    public ScepRefusal(string message)
        : base(message)
    {
    }

    public ScepRefusal(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ScepFailInfo FailInfo { get; }
}

/// <summary>
/// The one place SCEP maps <see cref="ErrorKind"/> to a failInfo (RFC 8894 §3.2.1.4; issue #24.5).
/// Null: not the client's fault and maybe gone on a retry (a rate limit, the database out of
/// reach, a write conflict, an internal error), answered with the HTTP status instead, as a
/// FAILURE would end the client's transaction for good.
/// </summary>
internal static class ScepFailures
{
    public static ScepFailInfo? Of(ErrorKind kind) => kind switch
    {
        ErrorKind.ValidationFailed or ErrorKind.Forbidden or ErrorKind.PolicyDisabled or ErrorKind.NotFound
            or ErrorKind.InvalidStatusTransition or ErrorKind.Unauthenticated or ErrorKind.PayloadTooLarge
            or ErrorKind.UnsupportedMediaType or ErrorKind.PreconditionFailed => ScepFailInfo.BadRequest,
        _ => null,
    };
}
