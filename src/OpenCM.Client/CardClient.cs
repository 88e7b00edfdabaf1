using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Smartcards;

namespace OpenCM.Client;

/// <summary>A step of a card client's work, numbered as Microsoft's enrollment walkthrough numbers it.</summary>
public sealed record CardStep(int Number, string What);

/// <summary>What personalizing a card left: the request, the card record, and the certificates now on the card.</summary>
public sealed record CardEnrollment(Guid Request, Guid Card, IReadOnlyList<X509Certificate2> Certificates);

/// <summary>
/// The client side of smart card work (issues #8.10, #22), over the typed client and any card
/// device (<see cref="ICardDevice"/>: the emulated Base CSP card, a GIDS card on a reader):
/// Microsoft's 28-step enrollment walkthrough (sample-enrollment-walkthrough.md), certificates
/// onto a card in use (Renew, OnlineUpdate), an online Unblock, the card's half of an offline
/// unblock, and Retire. The card's secrets stay in the card: this class sees the diversified key
/// only to hand it to the card, and never keeps it. Nothing is acknowledged to the server that the
/// card did not confirm: a card that fails (pulled, refusing) leaves the request where the server
/// had it, to be run again or abandoned (docs/smartcards.md).
/// </summary>
public sealed class CardClient
{
    private readonly OpenCmClient _client;
    private readonly IProgress<CardStep>? _progress;

    public CardClient(OpenCmClient client, IProgress<CardStep>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _progress = progress;
    }

    /// <summary>
    /// Walkthrough steps 7-28 for an approved request that puts a new card into use (Enroll,
    /// Duplicate): bind the card, give it its own admin key, set the PIN, make the keys on the
    /// card, install the certificates, and complete the request.
    /// </summary>
    /// <param name="pin">The user's PIN; ignored when the policy has the server propose one.</param>
    /// <returns>The enrollment, and the PIN the card now has.</returns>
    public async Task<(CardEnrollment Enrollment, string Pin)> PersonalizeAsync(Guid requestId, ICardDevice card, string? pin, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);

        // 7-8. The request is approved: execution may begin.
        Report(7, "Reading the request");
        var request = await _client.GetRequestAsync(requestId, ct).ConfigureAwait(false);
        if (request.Status != (int)WireRequestStatus.Approved)
        {
            throw new OpenCmApiException($"Request {requestId:D} is {(WireRequestStatus)request.Status}, not Approved; it cannot be executed now.");
        }

        // 12-13. The template's card policy: the default admin key the card was made with, diversification, the PIN rule.
        Report(12, "Reading the smart card policy");
        var policy = await _client.SmartcardPolicyAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);

        // 14-16. The card is bound to the request, which starts executing.
        Report(14, $"Assigning card {card.CardId} to the request");
        var cardUuid = await _client.AssignSmartcardAsync(requestId, card.CardId, card.Atr, ct).ConfigureAwait(false);
        await _client.GetSmartcardAsync(cardUuid, ct).ConfigureAwait(false);

        // 17-20. The card's own admin key replaces the default one, authenticated by the default key's response.
        if (policy.DiversifyAdminKey)
        {
            Report(18, "Diversifying the card's admin key");
            var key = await _client.DiversifiedKeyAsync(requestId, cardUuid, card.CardId, ct).ConfigureAwait(false);
            try
            {
                var response = await _client.AuthenticationResponseAsync(requestId, cardUuid, card.CardId, card.GetChallenge(), diversified: false, ct).ConfigureAwait(false);
                card.ChangeAdminKey(response, key);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
            }
        }

        // 21-23. The user's PIN (or the server's proposal), set through an admin response under the card's key.
        Report(21, "Setting the PIN");
        var userPin = policy.UserPinOption == (int)UserPinOption.ServerProposed
            ? await _client.ProposedPinAsync(requestId, cardUuid, ct).ConfigureAwait(false)
            : pin ?? throw new ArgumentException("The policy has the user choose the PIN; give one.", nameof(pin));
        await SetPinAsync(requestId, cardUuid, card, userPin, policy.DiversifyAdminKey, ct).ConfigureAwait(false);

        // 24-27. Keys made on the card, certificates onto it.
        var certificates = await IssueOntoCardAsync(requestId, card, userPin, ct).ConfigureAwait(false);

        // 28. Done: the request completes and the card is in use.
        Report(28, "Completing the request");
        await _client.SetStatusAsync(requestId, WireRequestStatus.Completed, ct).ConfigureAwait(false);
        return (new CardEnrollment(requestId, cardUuid, certificates), userPin);
    }

    /// <summary>
    /// Walkthrough steps 24-27 on a card that has its PIN: the generation options, one key and CSR
    /// per certificate made on the card, the certificates, each installed beside its key.
    /// </summary>
    public async Task<IReadOnlyList<X509Certificate2>> IssueOntoCardAsync(Guid requestId, ICardDevice card, string pin, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        Report(24, "Reading the certificate generation options");
        var options = await _client.GenerationOptionsAsync(requestId, ct).ConfigureAwait(false);
        var containers = new List<string>(options.Count);
        var csrs = new List<string>(options.Count);
        foreach (var option in options)
        {
            // A container per certificate, named afresh so that new keys never overwrite ones in use.
            var container = $"opencm-{Guid.NewGuid():N}";
            Report(25, $"Making a {option.KeyAlgorithmName} key on the card for '{option.FriendlyName}'");
            csrs.Add(Convert.ToBase64String(card.CreateCertificateRequest(container, pin, option.Subject, option.KeyAlgorithmName, option.KeySize, option.HashAlgorithmName)));
            containers.Add(container);
        }

        // A one-time password protects any key the server returns for the card (made or archived
        // there) on its way to the card; it never leaves this method.
        Report(26, "Sending the certificate requests");
        var transport = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        var delivered = await _client.SubmitCertificateDataAsync(requestId, new CertificateDataBody(csrs, transport), ct).ConfigureAwait(false);

        Report(27, "Installing the certificates on the card");
        var installed = new List<X509Certificate2>();
        var next = 0;
        foreach (var certificate in delivered)
        {
            if (certificate.IsPfx)
            {
                var imported = $"opencm-{Guid.NewGuid():N}";
                card.ImportPfx(imported, Convert.FromBase64String(certificate.Pfx ?? throw new OpenCmApiException("The server sent a PFX without its content.")), transport, pin);
                installed.Add(X509CertificateLoader.LoadCertificate(card.Certificates[imported].RawData));
                continue;
            }

            var container = containers[next++];
            var leaf = Leaf(certificate.Pkcs7, card.PublicKey(container));
            card.InstallCertificate(container, leaf.RawData, pin);
            installed.Add(leaf);
        }

        return installed;
    }

    /// <summary>An online Unblock: the server answers the card's challenge, and the card takes the new PIN; then the request completes.</summary>
    public async Task UnblockAsync(Guid requestId, Guid cardUuid, ICardDevice card, string newPin, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        var request = await _client.GetRequestAsync(requestId, ct).ConfigureAwait(false);
        var policy = await _client.SmartcardPolicyAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        Report(19, "Answering the card's challenge to unblock the PIN");
        await SetPinAsync(requestId, cardUuid, card, newPin, policy.DiversifyAdminKey, ct).ConfigureAwait(false);
        Report(28, "Completing the request");
        await _client.SetStatusAsync(requestId, WireRequestStatus.Completed, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Renew (or OnlineUpdate) onto the card in use that <paramref name="requestId"/> names: the
    /// card in the reader must be that card; new keys are made on it beside the old ones (which
    /// serve until the request completes, when the server supersedes their certificates), the new
    /// certificates installed, and the request completed.
    /// </summary>
    public async Task<IReadOnlyList<X509Certificate2>> RenewAsync(Guid requestId, ICardDevice card, string pin, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        Report(7, "Reading the request");
        var request = await _client.GetRequestAsync(requestId, ct).ConfigureAwait(false);
        if ((WireRequestType)request.RequestType is not (WireRequestType.Renew or WireRequestType.OnlineUpdate))
        {
            throw new OpenCmApiException($"Request {requestId:D} is a {(WireRequestType)request.RequestType} request, not a Renew.");
        }

        RequireStatus(request, WireRequestStatus.Approved);
        await NamedCardAsync(request, card, ct).ConfigureAwait(false);

        // The PIN is checked before anything is asked of the server: a wrong one costs a try on the card, not a request.
        card.VerifyPin(pin);
        var certificates = await IssueOntoCardAsync(requestId, card, pin, ct).ConfigureAwait(false);
        Report(28, "Completing the request");
        await _client.SetStatusAsync(requestId, WireRequestStatus.Completed, ct).ConfigureAwait(false);
        return certificates;
    }

    /// <summary>
    /// Retire on the card that <paramref name="requestId"/> names: every key and certificate
    /// removed (authenticated by the card's admin key through the server's answer to its
    /// challenge), the admin key set back to the policy's default (so the card can be enrolled
    /// again, by this server or another), and only then the card reported Retired, which
    /// completes the request and revokes its certificates. A card that fails midway leaves the
    /// request Approved: run it again, or abandon it.
    /// </summary>
    public async Task RetireAsync(Guid requestId, ICardDevice card, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        Report(7, "Reading the request");
        var request = await _client.GetRequestAsync(requestId, ct).ConfigureAwait(false);
        if ((WireRequestType)request.RequestType != WireRequestType.Retire)
        {
            throw new OpenCmApiException($"Request {requestId:D} is a {(WireRequestType)request.RequestType} request, not a Retire.");
        }

        RequireStatus(request, WireRequestStatus.Approved);
        var record = await NamedCardAsync(request, card, ct).ConfigureAwait(false);
        Report(12, "Reading the smart card policy");
        var policy = await _client.SmartcardPolicyAsync(record.ProfileTemplateUuid, ct).ConfigureAwait(false);

        Report(19, "Removing the card's keys and certificates");
        var response = await _client.AuthenticationResponseAsync(requestId, record.Uuid, card.CardId, card.GetChallenge(), policy.DiversifyAdminKey, ct).ConfigureAwait(false);
        card.ClearContainers(response);

        // The card's own admin key gives way to the policy's default one: the card is blank again.
        if (policy.DiversifyAdminKey)
        {
            Report(20, "Setting the admin key back to the policy's default");
            var initial = AdminKeys.FromHex(policy.DefaultAdminKeyHex);
            try
            {
                response = await _client.AuthenticationResponseAsync(requestId, record.Uuid, card.CardId, card.GetChallenge(), diversified: true, ct).ConfigureAwait(false);
                card.ChangeAdminKey(response, initial);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(initial);
            }
        }

        Report(28, "Reporting the card retired");
        await _client.SetSmartcardStatusAsync(requestId, record.Uuid, WireSmartcardStatus.Retired, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The card's half of an offline unblock, step one: the challenge the user reads out to the
    /// help desk (who answers it with <c>opencm card unblock --card … --challenge …</c> or the
    /// portal's help desk). The same card session must take the response: a card answers its
    /// latest challenge only.
    /// </summary>
    public static byte[] OfflineUnblockChallenge(ICardDevice card)
    {
        ArgumentNullException.ThrowIfNull(card);
        return card.GetChallenge();
    }

    /// <summary>
    /// Step two: the help desk's response, typed in by the user, sets the new PIN. No server is
    /// asked: the help desk's request was completed when it answered.
    /// </summary>
    public static void CompleteOfflineUnblock(ICardDevice card, byte[] challenge, byte[] response, string newPin)
    {
        ArgumentNullException.ThrowIfNull(card);
        ArgumentNullException.ThrowIfNull(challenge);
        ArgumentNullException.ThrowIfNull(response);
        if (response.Length != challenge.Length)
        {
            throw new ArgumentException($"The response is as long as the challenge: {challenge.Length} bytes.", nameof(response));
        }

        card.UnblockPin(response, newPin);
    }

    private static void RequireStatus(RequestDto request, WireRequestStatus wanted)
    {
        if (request.Status != (int)wanted)
        {
            throw new OpenCmApiException($"Request {request.Uuid:D} is {(WireRequestStatus)request.Status}, not {wanted}; it cannot be executed now.");
        }
    }

    // A request on a card in use names its card record; the card in the reader must be that card.
    private async Task<SmartcardDto> NamedCardAsync(RequestDto request, ICardDevice card, CancellationToken ct)
    {
        var uuid = request.OldSmartcardUuid != Guid.Empty ? request.OldSmartcardUuid : request.NewSmartcardUuid;
        if (uuid == Guid.Empty)
        {
            throw new OpenCmApiException($"Request {request.Uuid:D} names no smart card.");
        }

        var record = await _client.GetSmartcardAsync(uuid, ct).ConfigureAwait(false);
        if (!string.Equals(Canonical(record.SerialNumber), Canonical(card.CardId), StringComparison.OrdinalIgnoreCase))
        {
            throw new CardException(CardRefusal.WrongCard, $"The card in the reader (card id {card.CardId}) is not the card request {request.Uuid:D} is for (card id {record.SerialNumber}).");
        }

        return record;
    }

    private static string Canonical(string cardId) => Guid.TryParse(cardId, out var g) ? g.ToString("D") : cardId.Trim();

    private async Task SetPinAsync(Guid requestId, Guid cardUuid, ICardDevice card, string pin, bool diversified, CancellationToken ct)
    {
        var response = await _client.AuthenticationResponseAsync(requestId, cardUuid, card.CardId, card.GetChallenge(), diversified, ct).ConfigureAwait(false);
        card.UnblockPin(response, pin);
    }

    // The certificate in the PKCS#7 whose key is the container's.
    private static X509Certificate2 Leaf(string? pkcs7, byte[] publicKey)
    {
        var cms = new SignedCms();
        cms.Decode(Convert.FromBase64String(pkcs7 ?? throw new OpenCmApiException("The server sent a certificate without its PKCS#7.")));
        foreach (var cert in cms.Certificates)
        {
            if (cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(publicKey))
            {
                return cert;
            }
        }

        throw new OpenCmApiException("The server's PKCS#7 holds no certificate for the key made on the card.");
    }

    private void Report(int step, string what) => _progress?.Report(new CardStep(step, what));
}
