using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>The ACME service of one template label, as one request sees it: the template and the URLs of its resources.</summary>
public sealed record AcmeSite(ProfileTemplate Template, string BaseUrl)
{
    public string Url(string path) => BaseUrl + "/" + path;

    public string AccountUrl(string id) => Url("acct/" + id);

    public string OrderUrl(string id) => Url("order/" + id);

    public string AuthorizationUrl(string id) => Url("authz/" + id);

    public string ChallengeUrl(string authorizationId, string type) => Url($"chall/{authorizationId}/{type}");

    public string CertificateUrl(string orderId) => Url("cert/" + orderId);
}

/// <summary>What a handler answers: status, JSON body or text, and the headers ACME adds.</summary>
public sealed record AcmeReply(int Status, JsonNode? Body = null, string? Location = null, int? RetryAfter = null, string? Text = null, string? ContentType = null)
{
    public IReadOnlyList<string> Links { get; init; } = [];
}

/// <summary>A JWS whose signature, URL and nonce were checked, with the key it was signed with and (kid) its account.</summary>
public sealed record AcmeVerified(JwsMessage Jws, JsonWebKey Key, AcmeAccount? Account);

/// <summary>
/// RFC 8555's resources over OpenCM's request workflow (issue #24.4; docs/acme.md). Every failure
/// is an <see cref="OpenCmException"/> that the server's problem writer turns into an ACME problem
/// document (<see cref="AcmeErrors"/>); nothing is written before the JWS, its nonce and its key
/// are checked.
/// </summary>
public sealed class AcmeService
{
    private const string Http01 = "http-01";
    private const string Dns01 = "dns-01";
    private const int MaxIdentifiers = 100;
    private const int MaxContacts = 10;

    // RFC 5280 reason codes a subscriber may give (RFC 8555 §7.6), by the names a Revoke request's data item uses.
    private static readonly Dictionary<int, string> RevocationReasons = new()
    {
        [0] = "unspecified",
        [1] = "keyCompromise",
        [3] = "affiliationChanged",
        [4] = "superseded",
        [5] = "cessationOfOperation",
        [9] = "privilegeWithdrawn",
    };

    private readonly IServiceProvider _services;
    private readonly IAcmeStore _store;
    private readonly AcmeNonces _nonces;
    private readonly AcmeOptions _options;
    private readonly TimeProvider _clock;
    private readonly string _correlationId;

    public AcmeService(IServiceProvider services, string correlationId)
    {
        ArgumentNullException.ThrowIfNull(services);
        _services = services;
        _store = services.GetRequiredService<IAcmeStore>();
        _nonces = services.GetRequiredService<AcmeNonces>();
        _options = services.GetRequiredService<AcmeOptions>();
        _clock = services.GetRequiredService<TimeProvider>();
        _correlationId = correlationId;
    }

    private IAcmeIssuer Issuer => _services.GetService<IAcmeIssuer>()
        ?? throw AcmeErrors.Problem(ErrorKind.Internal, AcmeErrors.ServerInternal, "ACME issuance is not configured on this server.");

    /// <summary>The template whose label is <paramref name="label"/> and which allows ACME; 404 otherwise, saying no more.</summary>
    public static async Task<ProfileTemplate> TemplateAsync(ITemplateStore templates, string label, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(templates);
        var matches = (await templates.ListAsync(ct).ConfigureAwait(false))
            .Where(t => t.Allows(EnrollmentProtocol.Acme) && string.Equals(TemplateLabels.Of(t.Name), label, StringComparison.Ordinal))
            .Take(2).ToList();
        return matches.Count == 1 ? matches[0] : throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "No ACME service under this label.");
    }

    /// <summary>The directory (RFC 8555 §7.1.1): the resources, and that accounts need External Account Binding.</summary>
    public static JsonObject Directory(AcmeSite site)
    {
        ArgumentNullException.ThrowIfNull(site);
        return new JsonObject
        {
            ["newNonce"] = site.Url("new-nonce"),
            ["newAccount"] = site.Url("new-account"),
            ["newOrder"] = site.Url("new-order"),
            ["revokeCert"] = site.Url("revoke-cert"),
            ["keyChange"] = site.Url("key-change"),
            ["meta"] = new JsonObject
            {
                ["externalAccountRequired"] = true,
                ["website"] = "https://opencm.dev/docs/acme",
            },
        };
    }

    /// <summary>
    /// Checks a request's JWS (RFC 8555 §6.2-§6.5): the URL it was signed for, the key (jwk where
    /// <paramref name="jwk"/> allows it, the kid of a valid account of this site where
    /// <paramref name="kid"/> does), the signature, and last the nonce, used once.
    /// </summary>
    public async Task<AcmeVerified> VerifyAsync(AcmeSite site, string requestUrl, JwsMessage jws, bool jwk, bool kid, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(jws);
        if (!string.Equals(jws.Url, requestUrl, StringComparison.Ordinal))
        {
            throw AcmeErrors.Unauthorized403("The protected header's url is not the URL this request was sent to (RFC 8555 §6.4).");
        }

        JsonWebKey key;
        AcmeAccount? account = null;
        if (jws.Jwk is { } given)
        {
            if (!jwk)
            {
                throw AcmeErrors.Malformed400("This resource takes requests signed by an account (kid), not by a jwk (RFC 8555 §6.2).");
            }

            key = JsonWebKey.Parse(given);
        }
        else
        {
            if (!kid)
            {
                throw AcmeErrors.Malformed400("This resource takes a jwk, not a kid (RFC 8555 §6.2).");
            }

            account = await AccountOfKidAsync(site, jws.Kid!, ct).ConfigureAwait(false);
            key = JsonWebKey.Parse(JsonDocument.Parse(account.Jwk).RootElement);
        }

        if (!key.Fits(jws.Alg))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadSignatureAlgorithm, $"The alg {jws.Alg} does not fit the key (RS256 for RSA, ES256 for P-256, ES384 for P-384).");
        }

        if (!key.Verify(jws.Alg, jws.SigningInput, jws.Signature))
        {
            throw AcmeErrors.Malformed400("The JWS signature does not verify.");
        }

        await _nonces.ConsumeAsync(jws.Nonce, ct).ConfigureAwait(false);
        return new AcmeVerified(jws, key, account);
    }

    private async Task<AcmeAccount> AccountOfKidAsync(AcmeSite site, string kid, CancellationToken ct)
    {
        var prefix = site.AccountUrl("");
        var id = kid.StartsWith(prefix, StringComparison.Ordinal) ? kid[prefix.Length..] : null;
        var account = id is { Length: > 0 and <= 64 } ? await _store.FindAccountAsync(id, ct).ConfigureAwait(false) : null;
        if (account is null || account.ProfileTemplateUuid != site.Template.Uuid)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.AccountDoesNotExist, "No account of this ACME service has this kid.");
        }

        return account.Status == AcmeStatus.Valid ? account : throw AcmeErrors.Unauthorized403("The account is deactivated (RFC 8555 §7.3.6).");
    }

    /// <summary>newAccount (RFC 8555 §7.3): an account for the key, bound through its External Account Binding to the EAB key's user and template.</summary>
    public async Task<AcmeReply> NewAccountAsync(AcmeSite site, AcmeVerified request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var payload = request.Jws.PayloadObject();
        var thumbprint = request.Key.Thumbprint;
        if (await _store.FindAccountByKeyAsync(thumbprint, ct).ConfigureAwait(false) is { } existing)
        {
            // §7.3.1: the key's account exists: 200 with its URL, whatever else the payload says.
            return existing.ProfileTemplateUuid == site.Template.Uuid
                ? new AcmeReply(200, AccountBody(site, existing), site.AccountUrl(existing.Id))
                : throw AcmeErrors.Unauthorized403("This key already belongs to an account of another ACME service; use a key per service.");
        }

        if (payload.TryGetProperty("onlyReturnExisting", out var only) && only.ValueKind == JsonValueKind.True)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.AccountDoesNotExist, "No account has this key.");
        }

        var contacts = Contacts(payload);
        if (!payload.TryGetProperty("externalAccountBinding", out var binding))
        {
            throw AcmeErrors.Problem(ErrorKind.Forbidden, AcmeErrors.ExternalAccountRequired,
                "This server needs External Account Binding (RFC 8555 §7.3.4): ask the operator for a kid and HMAC key (opencm acme eab).");
        }

        var key = await ExternalKeyAsync(site, request, binding, ct).ConfigureAwait(false);
        _ = await Issuer.CallerAsync(key.UserUuid, ct).ConfigureAwait(false)
            ?? throw AcmeErrors.Unauthorized403("The External Account Binding's principal is not a directory user.");
        if (!await _services.GetRequiredService<IExternalAccountKeys>().TryBindAsync(key.KeyId, thumbprint, ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Unauthorized403("The External Account Binding key is already bound to an account, expired, or unknown.");
        }

        var account = new AcmeAccount(NewId(), site.Template.Uuid, key.UserUuid, thumbprint, request.Key.CanonicalJson, contacts, key.KeyId, AcmeStatus.Valid, _clock.GetUtcNow());
        if (!await _store.TryAddAccountAsync(account, ct).ConfigureAwait(false))
        {
            // The same key made an account a moment ago: that one is the key's.
            account = await _store.FindAccountByKeyAsync(thumbprint, ct).ConfigureAwait(false)
                ?? throw AcmeErrors.Problem(ErrorKind.Conflict, AcmeErrors.Malformed, "The account could not be created; retry.");
            return new AcmeReply(200, AccountBody(site, account), site.AccountUrl(account.Id));
        }

        return new AcmeReply(201, AccountBody(site, account), site.AccountUrl(account.Id));
    }

    // RFC 8555 §7.3.4: a JWS over the account's JWK, MACed with the EAB key, signed for the newAccount URL.
    private async Task<ExternalAccountKey> ExternalKeyAsync(AcmeSite site, AcmeVerified request, JsonElement binding, CancellationToken ct)
    {
        var eab = JwsMessage.Parse(binding, mac: true);
        if (eab.Kid is not { Length: > 0 and <= 256 } kid || eab.Jwk is not null || eab.Nonce is not null)
        {
            throw AcmeErrors.Malformed400("The External Account Binding's protected header has a kid and no jwk or nonce (RFC 8555 §7.3.4).");
        }

        if (!string.Equals(eab.Url, request.Jws.Url, StringComparison.Ordinal))
        {
            throw AcmeErrors.Unauthorized403("The External Account Binding's url is not the newAccount URL.");
        }

        JsonWebKey bound;
        try
        {
            using var doc = JsonDocument.Parse(eab.Payload, new JsonDocumentOptions { MaxDepth = 8 });
            bound = JsonWebKey.Parse(doc.RootElement);
        }
        catch (JsonException)
        {
            throw AcmeErrors.Malformed400("The External Account Binding's payload is not a JWK.");
        }

        if (!string.Equals(bound.Thumbprint, request.Key.Thumbprint, StringComparison.Ordinal))
        {
            throw AcmeErrors.Unauthorized403("The External Account Binding binds another key than the account's.");
        }

        var keys = _services.GetService<IExternalAccountKeys>() ?? throw AcmeErrors.Problem(ErrorKind.Internal, AcmeErrors.ServerInternal, "External Account Binding keys are not configured on this server.");
        var key = await keys.FindUsableAsync(kid, ct).ConfigureAwait(false);
        if (key is null || key.ProfileTemplateUuid != site.Template.Uuid)
        {
            throw AcmeErrors.Unauthorized403("The External Account Binding key is unknown, expired, already used, or for another template.");
        }

        var mac = eab.Alg switch
        {
            "HS384" => HMACSHA384.HashData(key.HmacKey, eab.SigningInput),
            "HS512" => HMACSHA512.HashData(key.HmacKey, eab.SigningInput),
            _ => HMACSHA256.HashData(key.HmacKey, eab.SigningInput),
        };
        return CryptographicOperations.FixedTimeEquals(mac, eab.Signature) ? key : throw AcmeErrors.Unauthorized403("The External Account Binding's MAC does not verify.");
    }

    /// <summary>An account's own URL (RFC 8555 §7.3.2, §7.3.6): POST-as-GET, contact update, deactivation.</summary>
    public async Task<AcmeReply> AccountAsync(AcmeSite site, AcmeVerified request, string id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var account = request.Account!;
        if (account.Id != id)
        {
            throw AcmeErrors.Unauthorized403("A request to an account's URL is signed by that account.");
        }

        if (request.Jws.IsPostAsGet)
        {
            return new AcmeReply(200, AccountBody(site, account), site.AccountUrl(account.Id));
        }

        var payload = request.Jws.PayloadObject();
        var updated = account;
        if (payload.TryGetProperty("contact", out _))
        {
            updated = updated with { Contacts = Contacts(payload) };
        }

        if (payload.TryGetProperty("status", out var status))
        {
            updated = status.ValueKind == JsonValueKind.String && status.GetString() == "deactivated"
                ? updated with { Status = AcmeStatus.Deactivated }
                : throw AcmeErrors.Malformed400("An account's status can only be set to \"deactivated\".");
        }

        if (updated != account && !await _store.TryUpdateAccountAsync(updated, ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Problem(ErrorKind.Conflict, AcmeErrors.Malformed, "The account changed meanwhile; read it and retry.");
        }

        return new AcmeReply(200, AccountBody(site, updated), site.AccountUrl(account.Id));
    }

    /// <summary>An account's orders (RFC 8555 §7.1.2.1), newest first.</summary>
    public async Task<AcmeReply> OrdersAsync(AcmeSite site, AcmeVerified request, string id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        if (request.Account!.Id != id)
        {
            throw AcmeErrors.Unauthorized403("An account's orders are listed to that account only.");
        }

        var orders = await _store.OrdersOfAccountAsync(id, 100, ct).ConfigureAwait(false);
        return new AcmeReply(200, new JsonObject { ["orders"] = new JsonArray([.. orders.Select(o => (JsonNode)JsonValue.Create(site.OrderUrl(o.Id)))]) });
    }

    /// <summary>keyChange (RFC 8555 §7.3.5): the account's key replaced by the inner JWS's, which signs for it.</summary>
    public async Task<AcmeReply> KeyChangeAsync(AcmeSite site, AcmeVerified request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var account = request.Account!;
        var inner = JwsMessage.Parse(request.Jws.PayloadObject());
        if (inner.Jwk is not { } newJwk || inner.Nonce is not null)
        {
            throw AcmeErrors.Malformed400("The inner JWS of keyChange has a jwk (the new key) and no nonce.");
        }

        if (!string.Equals(inner.Url, request.Jws.Url, StringComparison.Ordinal))
        {
            throw AcmeErrors.Malformed400("The inner JWS's url is not the keyChange URL.");
        }

        var newKey = JsonWebKey.Parse(newJwk);
        if (!newKey.Fits(inner.Alg) || !newKey.Verify(inner.Alg, inner.SigningInput, inner.Signature))
        {
            throw AcmeErrors.Malformed400("The inner JWS is not signed by the new key.");
        }

        var payload = inner.PayloadObject();
        var named = payload.TryGetProperty("account", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        if (!string.Equals(named, site.AccountUrl(account.Id), StringComparison.Ordinal))
        {
            throw AcmeErrors.Unauthorized403("The inner JWS names another account than the one that signed the request.");
        }

        if (!payload.TryGetProperty("oldKey", out var oldKey) || !string.Equals(JsonWebKey.Parse(oldKey).Thumbprint, account.KeyThumbprint, StringComparison.Ordinal))
        {
            throw AcmeErrors.Unauthorized403("The inner JWS's oldKey is not the account's current key.");
        }

        if (await _store.FindAccountByKeyAsync(newKey.Thumbprint, ct).ConfigureAwait(false) is { } holder)
        {
            // §7.3.5: 409, naming the account that holds the key.
            throw AcmeErrors.Problem(ErrorKind.Conflict, AcmeErrors.Malformed,
                holder.ProfileTemplateUuid == site.Template.Uuid ? $"The new key already belongs to the account {site.AccountUrl(holder.Id)}." : "The new key already belongs to an account.");
        }

        var updated = account with { KeyThumbprint = newKey.Thumbprint, Jwk = newKey.CanonicalJson };
        if (!await _store.TryUpdateAccountAsync(updated, ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Problem(ErrorKind.Conflict, AcmeErrors.Malformed, "The account or the key changed meanwhile; retry.");
        }

        return new AcmeReply(200, AccountBody(site, updated), site.AccountUrl(account.Id));
    }

    /// <summary>newOrder (RFC 8555 §7.4): identifiers checked at once against the template's requestedNames, an authorization for each.</summary>
    public async Task<AcmeReply> NewOrderAsync(AcmeSite site, AcmeVerified request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var account = request.Account!;
        var payload = request.Jws.PayloadObject();
        if (payload.TryGetProperty("notBefore", out _) || payload.TryGetProperty("notAfter", out _))
        {
            throw AcmeErrors.Malformed400("notBefore and notAfter are not supported: the template decides the validity.");
        }

        if (!payload.TryGetProperty("identifiers", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() is 0 or > MaxIdentifiers)
        {
            throw AcmeErrors.Malformed400($"An order has 1 to {MaxIdentifiers} identifiers.");
        }

        var requested = new List<RequestedName>();
        foreach (var item in list.EnumerateArray())
        {
            var type = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            var value = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (type is null || value is null)
            {
                throw AcmeErrors.Malformed400("Each identifier has a string type and value.");
            }

            requested.Add(type switch
            {
                "dns" => new RequestedName(RequestedNameKind.Dns, value),
                "ip" => new RequestedName(RequestedNameKind.Ip, value),
                _ => throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.UnsupportedIdentifier, $"Identifiers are of type dns or ip, not '{JwsMessage.Shown(type)}'."),
            });
        }

        var check = RequestedNames.Check(Rules(site.Template), requested);
        if (check.Error is { } refused)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.RejectedIdentifier, refused.Detail);
        }

        var accepted = check.Accepted!;
        List<AcmeIdentifier> identifiers = [.. accepted.DnsNames.Select(d => new AcmeIdentifier("dns", d)), .. accepted.IpAddresses.Select(i => new AcmeIdentifier("ip", i.ToString()))];
        if (identifiers.Count == 0)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.RejectedIdentifier, "The template certifies no requested names.");
        }

        var now = _clock.GetUtcNow();
        var expires = now + _options.OrderLifetime;
        var orderId = NewId();
        var authorizations = identifiers.Select(i => new AcmeAuthorization(NewId(), account.Id, orderId, i, AcmeStatus.Pending, expires,
            i.Type == "dns" ? [new(Http01, NewToken(), AcmeStatus.Pending), new(Dns01, NewToken(), AcmeStatus.Pending)] : [new(Http01, NewToken(), AcmeStatus.Pending)])).ToList();
        var order = new AcmeOrder(orderId, account.Id, site.Template.Uuid, AcmeStatus.Pending, expires, identifiers, [.. authorizations.Select(a => a.Id)], now);
        await _store.AddOrderAsync(order, authorizations, ct).ConfigureAwait(false);
        return new AcmeReply(201, OrderBody(site, order, AcmeStatus.Pending), site.OrderUrl(order.Id));
    }

    /// <summary>An order (RFC 8555 §7.1.3); one waiting for approvers is polled here: once approved it is issued and valid.</summary>
    public async Task<AcmeReply> OrderAsync(AcmeSite site, AcmeVerified request, string id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var order = await OwnOrderAsync(request.Account!, id, ct).ConfigureAwait(false);
        if (order.Status == AcmeStatus.Processing)
        {
            order = await ResumeAsync(request.Account!, order, ct).ConfigureAwait(false);
        }

        return await OrderReplyAsync(site, order, 200, ct).ConfigureAwait(false);
    }

    private async Task<AcmeReply> OrderReplyAsync(AcmeSite site, AcmeOrder order, int status, CancellationToken ct)
    {
        var authorizations = await _store.AuthorizationsOfOrderAsync(order.Id, ct).ConfigureAwait(false);
        var now = AcmeRules.OrderStatus(order, authorizations, _clock.GetUtcNow());
        return new AcmeReply(status, OrderBody(site, order, now), site.OrderUrl(order.Id), now == AcmeStatus.Processing ? _options.RetryAfterSeconds : null);
    }

    // A poll of an order waiting for approvers (OpenCM's extension, docs/acme.md): the engine says whether it is issued now.
    private async Task<AcmeOrder> ResumeAsync(AcmeAccount account, AcmeOrder order, CancellationToken ct)
    {
        var caller = await CallerAsync(account, ct).ConfigureAwait(false);
        var requestId = order.RequestUuid ?? await Issuer.FindAsync(caller, order.Id, ct).ConfigureAwait(false);
        if (requestId is null)
        {
            return order; // a finalize still under way on another request
        }

        DeviceOutcome outcome;
        try
        {
            outcome = await Issuer.ResumeAsync(caller, requestId.Value, _correlationId, ct).ConfigureAwait(false);
        }
        catch (OpenCmException e) when (e.Error.Kind is ErrorKind.InvalidStatusTransition or ErrorKind.NotFound)
        {
            var failed = order with { Status = AcmeStatus.Invalid, RequestUuid = requestId, Error = new AcmeStoredError(AcmeErrors.Urn + AcmeErrors.Unauthorized, $"The request was not issued: {e.Error.Detail}") };
            return await _store.TryUpdateOrderAsync(failed, ct).ConfigureAwait(false) ? failed : await ReloadAsync(order, ct).ConfigureAwait(false);
        }

        return await RecordAsync(order, outcome, ct).ConfigureAwait(false);
    }

    private async Task<AcmeOrder> RecordAsync(AcmeOrder order, DeviceOutcome outcome, CancellationToken ct)
    {
        var next = outcome switch
        {
            DeviceOutcome.Issued issued => order with { Status = AcmeStatus.Valid, RequestUuid = outcome.Request.Uuid, CertificateSerial = issued.Certificate.SerialHex.ToUpperInvariant() },
            _ => order with { Status = AcmeStatus.Processing, RequestUuid = outcome.Request.Uuid },
        };
        if (next == order)
        {
            return order;
        }

        return await _store.TryUpdateOrderAsync(next, ct).ConfigureAwait(false) ? next with { Version = order.Version + 1 } : await ReloadAsync(order, ct).ConfigureAwait(false);
    }

    private async Task<AcmeOrder> ReloadAsync(AcmeOrder order, CancellationToken ct) =>
        await _store.FindOrderAsync(order.Id, ct).ConfigureAwait(false) ?? order;

    /// <summary>finalize (RFC 8555 §7.4): the CSR's names must be the order's; then an ordinary OpenCM request, issued at once or waiting for approvers.</summary>
    public async Task<AcmeReply> FinalizeAsync(AcmeSite site, AcmeVerified request, string id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var account = request.Account!;
        var order = await OwnOrderAsync(account, id, ct).ConfigureAwait(false);
        var authorizations = await _store.AuthorizationsOfOrderAsync(order.Id, ct).ConfigureAwait(false);
        var status = AcmeRules.OrderStatus(order, authorizations, _clock.GetUtcNow());
        if (status != AcmeStatus.Ready)
        {
            throw AcmeErrors.Problem(ErrorKind.Forbidden, AcmeErrors.OrderNotReady, $"The order is {AcmeRules.Name(status)}, not ready: finalize once every authorization is valid.");
        }

        var payload = request.Jws.PayloadObject();
        var der = payload.TryGetProperty("csr", out var csr) && csr.ValueKind == JsonValueKind.String
            ? Base64Url.TryDecode(csr.GetString()) ?? throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadCsr, "The csr is not base64url.")
            : throw AcmeErrors.Malformed400("finalize takes a csr (base64url DER).");
        var names = CsrNames(der);
        var wanted = order.Identifiers.Select(i => (i.Type, i.Value)).ToHashSet();
        if (!names.SetEquals(wanted))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadCsr, "The CSR's names (subjectAltName, or the CN without one) are not exactly the order's identifiers.");
        }

        var caller = await CallerAsync(account, ct).ConfigureAwait(false);
        var started = order with { Status = AcmeStatus.Processing };
        if (!await _store.TryUpdateOrderAsync(started, ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Problem(ErrorKind.Forbidden, AcmeErrors.OrderNotReady, "The order is being finalized already.");
        }

        started = started with { Version = order.Version + 1 };
        DeviceOutcome outcome;
        try
        {
            var input = new DeviceEnrollmentInput(EnrollmentProtocol.Acme, site.Template.Uuid, Convert.ToBase64String(der),
                [.. order.Identifiers.Select(i => new RequestedName(i.Type == "ip" ? RequestedNameKind.Ip : RequestedNameKind.Dns, i.Value))],
                ClientReference: order.Id, Comment: $"ACME order {order.Id}");
            outcome = await Issuer.SubmitAsync(caller, input, _correlationId, ct).ConfigureAwait(false);
        }
        catch (OpenCmException e)
        {
            // A refusal the client can mend (its CSR, its names, a limit, an outage) leaves the order ready; any other ends it.
            var retry = e.Error.Kind is ErrorKind.ValidationFailed or ErrorKind.RateLimited or ErrorKind.Unavailable or ErrorKind.PayloadTooLarge;
            var after = retry ? started with { Status = AcmeStatus.Ready } : started with { Status = AcmeStatus.Invalid, Error = new AcmeStoredError(AcmeErrors.TypeOf(e.Error), e.Error.Detail) };
            await _store.TryUpdateOrderAsync(after, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        var recorded = await RecordAsync(started, outcome, ct).ConfigureAwait(false);
        return await OrderReplyAsync(site, recorded, 200, ct).ConfigureAwait(false);
    }

    /// <summary>An authorization (RFC 8555 §7.5): POST-as-GET, or deactivation (§7.5.2).</summary>
    public async Task<AcmeReply> AuthorizationAsync(AcmeSite site, AcmeVerified request, string id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var authorization = await OwnAuthorizationAsync(request.Account!, id, ct).ConfigureAwait(false);
        if (!request.Jws.IsPostAsGet)
        {
            var payload = request.Jws.PayloadObject();
            if (!payload.TryGetProperty("status", out var s) || s.ValueKind != JsonValueKind.String || s.GetString() != "deactivated")
            {
                throw AcmeErrors.Malformed400("An authorization's status can only be set to \"deactivated\".");
            }

            if (!AcmeRules.MayDeactivate(authorization, _clock.GetUtcNow()))
            {
                throw AcmeErrors.Problem(ErrorKind.InvalidStatusTransition, AcmeErrors.Malformed, "Only a pending or valid authorization can be deactivated.");
            }

            var deactivated = authorization with { Status = AcmeStatus.Deactivated };
            authorization = await _store.TryUpdateAuthorizationAsync(deactivated, ct).ConfigureAwait(false)
                ? deactivated
                : throw AcmeErrors.Problem(ErrorKind.Conflict, AcmeErrors.Malformed, "The authorization changed meanwhile; read it and retry.");
        }

        return new AcmeReply(200, AuthorizationBody(site, authorization), site.AuthorizationUrl(authorization.Id));
    }

    /// <summary>
    /// A challenge (RFC 8555 §7.5.1): a POST with <c>{}</c> asks for its validation, which runs
    /// inline (the answer already says valid or invalid; the client's poll of the authorization
    /// agrees); POST-as-GET reads it.
    /// </summary>
    public async Task<AcmeReply> ChallengeAsync(AcmeSite site, AcmeVerified request, string authorizationId, string type, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var account = request.Account!;
        var authorization = await OwnAuthorizationAsync(account, authorizationId, ct).ConfigureAwait(false);
        var challenge = authorization.Challenges.FirstOrDefault(c => c.Type == type)
            ?? throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "No such challenge.");
        var now = _clock.GetUtcNow();
        if (!request.Jws.IsPostAsGet && AcmeRules.MayRespond(authorization, challenge, now))
        {
            _ = request.Jws.PayloadObject(); // §7.5.1: an empty JSON object; any object is taken
            var validating = authorization with { Challenges = [.. authorization.Challenges.Select(c => c.Type == type ? c with { Status = AcmeStatus.Processing } : c)] };
            if (await _store.TryUpdateAuthorizationAsync(validating, ct).ConfigureAwait(false))
            {
                var validator = _services.GetService<IAcmeChallengeValidator>()
                    ?? throw AcmeErrors.Problem(ErrorKind.Internal, AcmeErrors.ServerInternal, "Challenge validation is not configured on this server.");
                var kind = type == Dns01 ? AcmeChallengeKind.Dns01 : AcmeChallengeKind.Http01;
                ChallengeCheck check;
                try
                {
                    check = await validator.ValidateAsync(kind, authorization.Identifier.Value, challenge.Token, challenge.Token + "." + account.KeyThumbprint, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    check = new ChallengeCheck(false, AcmeErrors.Urn + "connection", "The validation could not reach the host.");
                }

                var validated = AcmeRules.AfterValidation(validating with { Version = authorization.Version + 1 }, type, check, _clock.GetUtcNow());
                await _store.TryUpdateAuthorizationAsync(validated, CancellationToken.None).ConfigureAwait(false);
            }

            authorization = await _store.FindAuthorizationAsync(authorization.Id, ct).ConfigureAwait(false) ?? authorization;
            challenge = authorization.Challenges.First(c => c.Type == type);
        }

        return new AcmeReply(200, ChallengeBody(site, authorization.Id, challenge))
        {
            Links = [$"<{site.AuthorizationUrl(authorization.Id)}>;rel=\"up\""],
        };
    }

    /// <summary>The certificate of a valid order (RFC 8555 §7.4.2): the leaf and its chain, PEM.</summary>
    public async Task<AcmeReply> CertificateAsync(AcmeVerified request, string orderId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var order = await OwnOrderAsync(request.Account!, orderId, ct).ConfigureAwait(false);
        var serial = order.CertificateSerial ?? throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "The order has no certificate (yet).");
        var stored = await _services.GetRequiredService<IProfileStore>().CertificateBySerialAsync(serial, ct).ConfigureAwait(false)
            ?? throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "The certificate is not stored here.");
        var authorities = _services.GetRequiredService<CertificateAuthorities>();
        var issuer = authorities.All.FirstOrDefault(a => a.Id == stored.Certificate.AuthorityId) ?? authorities.Active;
        var pem = new StringBuilder();
        foreach (var der in (IEnumerable<ReadOnlyMemory<byte>>)[stored.Certificate.Der, .. issuer.Chain])
        {
            pem.Append(PemEncoding.WriteString("CERTIFICATE", der.Span)).Append('\n');
        }

        return new AcmeReply(200, Text: pem.ToString(), ContentType: "application/pem-certificate-chain");
    }

    /// <summary>
    /// revokeCert (RFC 8555 §7.6): by the account that ordered the certificate, or signed by the
    /// certificate's own key; through an ordinary Revoke request on its profile, so the CRL and
    /// OCSP show it as any revocation.
    /// </summary>
    public async Task<AcmeReply> RevokeAsync(AcmeSite site, AcmeVerified request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(request);
        var payload = request.Jws.PayloadObject();
        var der = payload.TryGetProperty("certificate", out var c) && c.ValueKind == JsonValueKind.String
            ? Base64Url.Decode(c.GetString(), "The certificate")
            : throw AcmeErrors.Malformed400("revokeCert takes a certificate (base64url DER).");
        var reasonCode = 0;
        if (payload.TryGetProperty("reason", out var r) && (r.ValueKind != JsonValueKind.Number || !r.TryGetInt32(out reasonCode)))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadRevocationReason, "The reason is an RFC 5280 reason code.");
        }

        var reason = RevocationReasons.GetValueOrDefault(reasonCode)
            ?? throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadRevocationReason, "The reason is one of 0, 1, 3, 4, 5 and 9 (RFC 5280; RFC 8555 §7.6).");

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            throw AcmeErrors.Malformed400("The certificate is not a DER X.509 certificate.");
        }

        using (certificate)
        {
            var profiles = _services.GetRequiredService<IProfileStore>();
            var serial = certificate.SerialNumber.TrimStart('0');
            var stored = await profiles.CertificateBySerialAsync(certificate.SerialNumber, ct).ConfigureAwait(false)
                ?? await profiles.CertificateBySerialAsync(serial, ct).ConfigureAwait(false);
            if (stored is null || !stored.Certificate.Der.AsSpan().SequenceEqual(der))
            {
                throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "This server did not issue that certificate.");
            }

            var mayRevoke = request.Account is { } account
                ? (await _store.FindOrderByCertificateAsync(stored.SerialHex.ToUpperInvariant(), ct).ConfigureAwait(false))?.AccountId == account.Id
                : request.Key.SubjectPublicKeyInfo().AsSpan().SequenceEqual(certificate.PublicKey.ExportSubjectPublicKeyInfo());
            if (!mayRevoke)
            {
                throw AcmeErrors.Unauthorized403("Only the account that ordered a certificate, or its own key, revokes it.");
            }

            if (stored.Status == CertificateStatus.Revoked)
            {
                throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.AlreadyRevoked, "The certificate is revoked already.");
            }

            var caller = await Issuer.CallerAsync(stored.UserUuid, ct).ConfigureAwait(false)
                ?? throw AcmeErrors.Unauthorized403("The certificate's owner is not a directory user any more.");
            // The reason goes in the Revoke request's data where the template's Revoke policy collects it (as `opencm revoke`
            // sends it); a policy that does not collect it revokes as unspecified (docs/acme.md).
            var profile = await profiles.FindAsync(stored.ProfileUuid, ct).ConfigureAwait(false);
            var template = profile is null ? null : await _services.GetRequiredService<ITemplateStore>().FindAsync(profile.TemplateUuid, ct).ConfigureAwait(false);
            var collects = template?.PolicyFor(RequestType.Revoke)?.PolicyDataCollection
                .Any(i => string.Equals(i.Name, ProfileRules.RevocationReasonItem, StringComparison.OrdinalIgnoreCase)) == true;
            var revoke = new CreateRequestInput(RequestType.Revoke, null, collects ? [new DataItem(ProfileRules.RevocationReasonItem, reason)] : [], null,
                $"ACME revokeCert of {stored.SerialHex}", null, null, stored.ProfileUuid);
            _ = await _services.GetRequiredService<RequestCreation>().CreateAsync(caller, revoke, _correlationId, ct).ConfigureAwait(false);
            return new AcmeReply(200);
        }
    }

    private async Task<Caller> CallerAsync(AcmeAccount account, CancellationToken ct) =>
        await Issuer.CallerAsync(account.UserUuid, ct).ConfigureAwait(false)
        ?? throw AcmeErrors.Unauthorized403("The account's principal is not a directory user any more.");

    private async Task<AcmeOrder> OwnOrderAsync(AcmeAccount account, string id, CancellationToken ct)
    {
        var order = id.Length is > 0 and <= 64 ? await _store.FindOrderAsync(id, ct).ConfigureAwait(false) : null;
        return order is not null && order.AccountId == account.Id ? order : throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "No such order of this account.");
    }

    private async Task<AcmeAuthorization> OwnAuthorizationAsync(AcmeAccount account, string id, CancellationToken ct)
    {
        var authorization = id.Length is > 0 and <= 64 ? await _store.FindAuthorizationAsync(id, ct).ConfigureAwait(false) : null;
        return authorization is not null && authorization.AccountId == account.Id ? authorization : throw AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "No such authorization of this account.");
    }

    // The rules of the template's one certificate with a client-made key (decision 0014).
    private static RequestedNameRules? Rules(ProfileTemplate template) =>
        template.CertificateTemplates.FirstOrDefault(c => !c.ServerGeneratesKey)?.RequestedNames;

    /// <summary>The names a CSR asks for, normalised as order identifiers: its subjectAltName's dNSName and iPAddress entries, or its CN when it has none.</summary>
    internal static HashSet<(string Type, string Value)> CsrNames(byte[] der)
    {
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadCsr, "The csr is not a PKCS#10 request with a valid signature.");
        }

        var names = new HashSet<(string, string)>();
        var san = csr.CertificateExtensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault()
            ?? csr.CertificateExtensions.Where(e => e.Oid?.Value == "2.5.29.17").Select(e => new X509SubjectAlternativeNameExtension(e.RawData, e.Critical)).FirstOrDefault();
        try
        {
            if (san is not null)
            {
                foreach (var dns in san.EnumerateDnsNames())
                {
                    names.Add(("dns", RequestedNames.DnsName(dns) ?? throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadCsr, "The CSR has a DNS name that is not a host name.")));
                }

                foreach (var ip in san.EnumerateIPAddresses())
                {
                    names.Add(("ip", ip.ToString()));
                }
            }
        }
        catch (CryptographicException)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadCsr, "The CSR's subjectAltName does not decode.");
        }

        if (names.Count == 0 && CommonName(csr.SubjectName) is { Length: > 0 } cn)
        {
            if (RequestedNames.DnsName(cn) is { } host)
            {
                names.Add(("dns", host));
            }
            else if (IPAddress.TryParse(cn, out var address))
            {
                names.Add(("ip", address.ToString()));
            }
        }

        return names;
    }

    private static string? CommonName(X500DistinguishedName name)
    {
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames())
        {
            if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == "2.5.4.3")
            {
                return rdn.GetSingleElementValue();
            }
        }

        return null;
    }

    private static List<string> Contacts(JsonElement payload)
    {
        if (!payload.TryGetProperty("contact", out var list))
        {
            return [];
        }

        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() > MaxContacts)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.InvalidContact, $"contact is a list of at most {MaxContacts} mailto: URLs.");
        }

        var contacts = new List<string>();
        foreach (var item in list.EnumerateArray())
        {
            var text = item.ValueKind == JsonValueKind.String ? item.GetString()! : "";
            if (!text.StartsWith("mailto:", StringComparison.Ordinal) || text.Length > 320 || text.Contains(',', StringComparison.Ordinal) || text.Contains('?', StringComparison.Ordinal)
                || !text.All(ch => ch is > ' ' and <= '~') || text.IndexOf('@', StringComparison.Ordinal) < 8)
            {
                throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.InvalidContact, "Each contact is one mailto: address (RFC 8555 §7.3).");
            }

            contacts.Add(text);
        }

        return contacts;
    }

    private static JsonObject AccountBody(AcmeSite site, AcmeAccount account) => new()
    {
        ["status"] = AcmeRules.Name(account.Status),
        ["contact"] = new JsonArray([.. account.Contacts.Select(c => (JsonNode)JsonValue.Create(c))]),
        ["orders"] = site.AccountUrl(account.Id) + "/orders",
    };

    private static JsonObject OrderBody(AcmeSite site, AcmeOrder order, AcmeStatus status)
    {
        var body = new JsonObject
        {
            ["status"] = AcmeRules.Name(status),
            ["expires"] = Time(order.Expires),
            ["identifiers"] = new JsonArray([.. order.Identifiers.Select(i => (JsonNode)new JsonObject { ["type"] = i.Type, ["value"] = i.Value })]),
            ["authorizations"] = new JsonArray([.. order.AuthorizationIds.Select(a => (JsonNode)JsonValue.Create(site.AuthorizationUrl(a)))]),
            ["finalize"] = site.Url($"order/{order.Id}/finalize"),
        };
        if (status == AcmeStatus.Valid)
        {
            body["certificate"] = site.CertificateUrl(order.Id);
        }

        if (order.Error is { } error)
        {
            body["error"] = Problem(error);
        }

        return body;
    }

    private JsonObject AuthorizationBody(AcmeSite site, AcmeAuthorization authorization) => new()
    {
        ["identifier"] = new JsonObject { ["type"] = authorization.Identifier.Type, ["value"] = authorization.Identifier.Value },
        ["status"] = AcmeRules.Name(AcmeRules.AuthorizationStatus(authorization, _clock.GetUtcNow())),
        ["expires"] = Time(authorization.Expires),
        ["challenges"] = new JsonArray([.. authorization.Challenges.Select(c => (JsonNode)ChallengeBody(site, authorization.Id, c))]),
    };

    private static JsonObject ChallengeBody(AcmeSite site, string authorizationId, AcmeChallengeState challenge)
    {
        var body = new JsonObject
        {
            ["type"] = challenge.Type,
            ["url"] = site.ChallengeUrl(authorizationId, challenge.Type),
            ["status"] = AcmeRules.Name(challenge.Status),
            ["token"] = challenge.Token,
        };
        if (challenge.Validated is { } validated)
        {
            body["validated"] = Time(validated);
        }

        if (challenge.Error is { } error)
        {
            body["error"] = Problem(error);
        }

        return body;
    }

    private static JsonObject Problem(AcmeStoredError error) => new() { ["type"] = error.Type, ["detail"] = error.Detail };

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string NewId() => Base64Url.Encode(RandomNumberGenerator.GetBytes(16));

    private static string NewToken() => Base64Url.Encode(RandomNumberGenerator.GetBytes(32));
}
