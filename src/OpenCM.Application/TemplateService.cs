using System.Text.RegularExpressions;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>Use cases of profile templates and their policies (SPEC §6).</summary>
public sealed partial class TemplateService
{
    private readonly ITemplateStore _store;
    private readonly IDirectory _directory;
    private readonly TimeProvider _clock;
    private readonly AccessPolicy _access;
    private readonly ITransactions _transactions;

    public TemplateService(ITemplateStore store, IDirectory directory, TimeProvider clock, AccessPolicy access, ITransactions transactions)
    {
        _store = store;
        _transactions = transactions;
        _directory = directory;
        _clock = clock;
        _access = access;
    }

    /// <summary>Templates the caller can use: a manager sees all; others those with an enabled policy they may initiate.</summary>
    public async Task<IReadOnlyList<ProfileTemplate>> ListVisibleAsync(Caller caller, CancellationToken ct = default)
    {
        var visible = new List<ProfileTemplate>();
        foreach (var template in await _store.ListAsync(ct).ConfigureAwait(false))
        {
            if (await _access.MaySeeTemplateAsync(template, caller, ct).ConfigureAwait(false))
            {
                visible.Add(template);
            }
        }

        return visible;
    }

    /// <summary>One visible template, else NotFound.</summary>
    public async Task<ProfileTemplate> GetAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        var template = await _store.FindAsync(id, ct).ConfigureAwait(false);
        if (template is not null && await _access.MaySeeTemplateAsync(template, caller, ct).ConfigureAwait(false))
        {
            return template;
        }

        throw new OpenCmException(DomainError.NotFound($"No profile template with id {id:D} exists."));
    }

    /// <summary>The workflow policy for <paramref name="type"/>; PolicyDisabled when it is absent or disabled.</summary>
    public async Task<WorkflowPolicy> GetPolicyAsync(Caller caller, Guid id, RequestType type, CancellationToken ct = default)
    {
        var template = await GetAsync(caller, id, ct).ConfigureAwait(false);
        var policy = template.PolicyFor(type);
        return policy is { Enabled: true }
            ? policy
            : throw new OpenCmException(new DomainError(ErrorKind.PolicyDisabled, $"The template '{template.Name}' does not allow {type} requests."));
    }

    /// <summary>Imports a template file; principals named as <c>{Name}</c> in descriptors must exist.</summary>
    public Task<ProfileTemplate> ImportAsync(string text, string source, Guid actor, string correlationId, CancellationToken ct = default) =>
        ImportAsync(text, source, new AuditContext(actor, correlationId), ct);

    /// <summary>Imports a template file on behalf of <paramref name="who"/>, whom its audit event names.</summary>
    public async Task<ProfileTemplate> ImportAsync(string text, string source, AuditContext who, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        // 1. Read the file.
        var file = TemplateFile.Parse(text, source);
        if (file.Uuid == Guid.Empty)
        {
            throw new OpenCmException(DomainError.Validation("uuid", "A template needs a uuid."));
        }

        if (string.IsNullOrWhiteSpace(file.Name))
        {
            throw new OpenCmException(DomainError.Validation("name", "A template needs a name."));
        }

        // 2. Each policy: a known request type, resolved and valid descriptors, sane numbers.
        var policies = new Dictionary<RequestType, WorkflowPolicy>();
        foreach (var (typeName, p) in file.Policies)
        {
            if (!RequestTypeNames.TryParse(typeName, out var type))
            {
                throw new OpenCmException(DomainError.Validation($"policies.{typeName}", $"'{typeName}' is not a request type."));
            }

            var at = $"policies.{typeName}";
            if (p.ApprovalsNeeded < 0 || p.DefaultRequestPriority is < RequestRules.MinPriority or > RequestRules.MaxPriority)
            {
                throw new OpenCmException(DomainError.Validation(at, "approvalsNeeded must be ≥ 0 and defaultRequestPriority within 0–255."));
            }

            policies[type] = new WorkflowPolicy
            {
                Enabled = p.Enabled,
                SelfServiceEnabled = p.SelfServiceEnabled,
                ApprovalsNeeded = p.ApprovalsNeeded,
                AuthorizedApprover = await ResolveAsync(p.AuthorizedApprover, $"{at}.authorizedApprover", ct).ConfigureAwait(false),
                AuthorizedEnrollmentAgent = await ResolveAsync(p.AuthorizedEnrollmentAgent, $"{at}.authorizedEnrollmentAgent", ct).ConfigureAwait(false),
                AuthorizedInitiator = await ResolveAsync(p.AuthorizedInitiator, $"{at}.authorizedInitiator", ct).ConfigureAwait(false),
                CollectComments = p.CollectComments,
                CollectRequestPriority = p.CollectRequestPriority,
                DefaultRequestPriority = p.DefaultRequestPriority,
                Documents = [.. p.Documents],
                EnrollAgentRequired = p.EnrollAgentRequired,
                OneTimePasswordPolicy = p.OneTimePasswordPolicy,
                Personalization = p.Personalization,
                DataCollectionFlags = p.DataCollectionFlags,
                PolicyDataCollection = [.. p.DataCollection.Select(d => new DataCollectionItem(d.Name, d.Description, d.Required, d.ValidationData))],
            };
            if (policies[type].PolicyDataCollection.GroupBy(d => d.Name, StringComparer.OrdinalIgnoreCase).Any(g => g.Count() > 1 || string.IsNullOrWhiteSpace(g.Key)))
            {
                throw new OpenCmException(DomainError.Validation($"{at}.dataCollection", "Data item names must be present and unique."));
            }
        }

        // 3. Its certificate templates.
        var certificates = file.Certificates.Select((c, i) => ToCertificateTemplate(c, $"certificates[{i}]")).ToList();
        if (certificates.GroupBy(c => c.CommonName, StringComparer.OrdinalIgnoreCase).Any(g => g.Count() > 1))
        {
            throw new OpenCmException(DomainError.Validation("certificates", "Certificate template common names must be unique within a profile template."));
        }

        // 4. A smart card template's card policy (defaults when the file gives none); a software template has none.
        var isSmartcard = file.IsSmartcardProfileTemplate || file.IsVirtualSmartcardProfileTemplate;
        if (!isSmartcard && file.Smartcard is not null)
        {
            throw new OpenCmException(DomainError.Validation("smartcard", "Only a smart card template has a smartcard section."));
        }

        var smartcard = isSmartcard ? ToSmartcardConfiguration(file.Smartcard ?? new TemplateFile.SmartcardFile(), file.IsVirtualSmartcardProfileTemplate) : null;

        // 5. The protocol front-ends it allows (issue #24): known names only, each once; none unless named.
        var protocols = new SortedSet<EnrollmentProtocol>();
        foreach (var name in file.Protocols ?? [])
        {
            protocols.Add(EnrollmentProtocols.TryParse(name?.Trim(), out var protocol)
                ? protocol
                : throw new OpenCmException(DomainError.Validation("protocols", $"'{name}' is not a protocol; known: est, scep, acme.")));
        }

        // 6. Store it (a re-import of the same uuid becomes the next version) with its audit event.
        var template = new ProfileTemplate
        {
            Uuid = file.Uuid,
            Name = file.Name,
            Description = file.Description,
            IsSmartcardProfileTemplate = file.IsSmartcardProfileTemplate || file.IsVirtualSmartcardProfileTemplate,
            IsVirtualSmartcardProfileTemplate = file.IsVirtualSmartcardProfileTemplate,
            Policies = policies,
            CertificateTemplates = certificates,
            Smartcard = smartcard,
            Protocols = [.. protocols],
        };
        return await SaveAsync(template, who, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a template as the next version of its uuid, with its audit event, in one unit of
    /// work. A name another template holds is refused (ValidationFailed naming <c>name</c>); a
    /// version or name another server stored meanwhile is a Conflict: one version number never
    /// names two bodies, since profiles record the version they were issued under.
    /// </summary>
    private async Task<ProfileTemplate> SaveAsync(ProfileTemplate template, AuditContext who, CancellationToken ct)
    {
        // 1. Names are unique regardless of case (the store's unique index says so too, for races).
        var all = await _store.ListAsync(ct).ConfigureAwait(false);
        if (all.FirstOrDefault(t => t.Uuid != template.Uuid && string.Equals(t.Name.ToUpperInvariant(), template.Name.ToUpperInvariant(), StringComparison.Ordinal)) is { } other)
        {
            throw new OpenCmException(DomainError.Validation("name", $"Another template ({other.Uuid:D}) is already named '{template.Name}'."));
        }

        // 2. A re-import of the same uuid becomes the next version, by compare-and-set on the one read.
        var current = all.FirstOrDefault(t => t.Uuid == template.Uuid)?.Version ?? 0;
        var saved = template with { Version = current + 1 };
        var now = _clock.GetUtcNow();
        var audit = new AuditEvent("TemplateImported", saved.Uuid, who.Actor, RequestStatus.None, RequestStatus.None, now, who.CorrelationId,
            who.Detail($"name={saved.Name} version={saved.Version}"));
        var stored = await _transactions.TryRunAsync(async (uow, c) =>
        {
            if (!await uow.Templates.TryStoreVersionAsync(saved, current, now, c).ConfigureAwait(false))
            {
                return null;
            }

            await uow.Audit.AppendAsync(audit, c).ConfigureAwait(false);
            return saved;
        }, ct).ConfigureAwait(false);
        return stored ?? throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"The template '{template.Name}' was changed by another server meanwhile; read it again and retry."));
    }

    /// <summary>
    /// A stored template as the file <see cref="ImportAsync(string, string, AuditContext, CancellationToken)"/>
    /// takes back (issue #23.3, <c>opencm templates export</c>), with each SID in its descriptors that
    /// names a directory principal written as <c>{Name}</c>, as template files name them: import
    /// resolves the names again, here to the same SIDs, and on another installation to its own.
    /// A SID the directory no longer knows stays a SID.
    /// </summary>
    public async Task<TemplateFile> ExportAsync(ProfileTemplate template, CancellationToken ct = default)
    {
        var file = TemplateFile.From(template);
        foreach (var policy in file.Policies.Values)
        {
            policy.AuthorizedApprover = await NamePrincipalsAsync(policy.AuthorizedApprover, ct).ConfigureAwait(false);
            policy.AuthorizedEnrollmentAgent = await NamePrincipalsAsync(policy.AuthorizedEnrollmentAgent, ct).ConfigureAwait(false);
            policy.AuthorizedInitiator = await NamePrincipalsAsync(policy.AuthorizedInitiator, ct).ConfigureAwait(false);
        }

        return file;
    }

    // The inverse of ResolveAsync: domain SIDs of known principals as {Name} (a name with a brace cannot be a placeholder, so it stays a SID).
    private async Task<string> NamePrincipalsAsync(string sddl, CancellationToken ct)
    {
        var text = sddl;
        foreach (var sid in DomainSid().Matches(sddl).Select(m => m.Value).Distinct(StringComparer.Ordinal))
        {
            if (Sid.TryParse(sid, out var parsed) && await _directory.FindBySidAsync(parsed, ct).ConfigureAwait(false) is { } principal && principal.Name.IndexOfAny(['{', '}']) < 0)
            {
                text = DomainSid().Replace(text, m => m.Value == sid ? "{" + principal.Name + "}" : m.Value);
            }
        }

        return text;
    }

    [GeneratedRegex(@"S-1-5-21(-[0-9]+)+")]
    private static partial Regex DomainSid();

    /// <summary>
    /// Removes a template no request, profile or smart card names (issue #23.3, <c>opencm
    /// templates remove</c>), with its audit event. One still in use is refused (Conflict, saying
    /// what uses it): removing it would orphan them, and its policies still govern their
    /// requests. An unknown uuid is NotFound.
    /// </summary>
    public async Task<ProfileTemplate> RemoveAsync(Guid uuid, AuditContext who, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        var template = await _store.FindAsync(uuid, ct).ConfigureAwait(false) ?? throw new OpenCmException(DomainError.NotFound($"No template with id {uuid:D} exists."));
        var now = _clock.GetUtcNow();
        var audit = new AuditEvent("TemplateRemoved", template.Uuid, who.Actor, RequestStatus.None, RequestStatus.None, now, who.CorrelationId,
            who.Detail($"name={template.Name} version={template.Version}"));
        var outcome = await _transactions.RunAsync(async (uow, c) =>
        {
            var removal = await uow.Templates.TryRemoveAsync(template.Uuid, template.Version, c).ConfigureAwait(false);
            if (removal.Removed)
            {
                await uow.Audit.AppendAsync(audit, c).ConfigureAwait(false);
            }

            return removal;
        }, ct).ConfigureAwait(false);
        if (outcome.InUse)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict,
                $"The template '{template.Name}' is still used by {outcome.Requests} request(s), {outcome.Profiles} profile(s) and {outcome.Smartcards} smart card(s); it stays (disable its policies and re-import it to stop new requests)."));
        }

        return outcome.Removed
            ? template
            : throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"The template '{template.Name}' was changed or removed by another server meanwhile; read it again and retry."));
    }

    /// <summary>GET /profiletemplates/{id}/configuration/smartcards: a visible smart card template's card policy; NotFound otherwise.</summary>
    public async Task<(ProfileTemplate Template, SmartcardConfiguration Configuration)> GetSmartcardConfigurationAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        var template = await GetAsync(caller, id, ct).ConfigureAwait(false);
        return (template, template.CardPolicy ?? throw new OpenCmException(DomainError.NotFound($"The template '{template.Name}' issues no smart cards.")));
    }

    private static SmartcardConfiguration ToSmartcardConfiguration(TemplateFile.SmartcardFile f, bool isVirtual)
    {
        const string At = "smartcard";
        var key = f.DefaultAdminKeyHex.Trim();
        if (key.Length != 48 || !key.All(char.IsAsciiHexDigit))
        {
            throw new OpenCmException(DomainError.Validation($"{At}.defaultAdminKeyHex", "The default admin key is a 3DES key: 48 hex digits."));
        }

        if (!DiversificationAlgorithms.Known.Contains(f.AdminKeyDiversificationAlgorithm))
        {
            throw new OpenCmException(DomainError.Validation($"{At}.adminKeyDiversificationAlgorithm",
                $"Unknown admin key diversification '{f.AdminKeyDiversificationAlgorithm}'; known: {string.Join(", ", DiversificationAlgorithms.Known)}."));
        }

        if (!EnumNames.TryParse<UserPinOption>(f.UserPinOption, out var pinOption))
        {
            throw new OpenCmException(DomainError.Validation($"{At}.userPinOption", "userPinOption is UserProvided or ServerProposed."));
        }

        if (!EnumNames.TryParse<PinCharacters>(f.PinCharacters, out var characters))
        {
            throw new OpenCmException(DomainError.Validation($"{At}.pinCharacters", "pinCharacters is Digits, Alphanumeric or Any."));
        }

        // The Base CSP takes PINs of 4 to 127 characters; a server-proposed PIN is digits only.
        if (f.MinimumPinLength < 4 || f.MaximumPinLength > 127 || f.MinimumPinLength > f.MaximumPinLength)
        {
            throw new OpenCmException(DomainError.Validation($"{At}.minimumPinLength", "PIN lengths lie between 4 and 127, the minimum not above the maximum."));
        }

        var physical = f.PhysicalCards ?? !isVirtual;
        var virtualCards = f.VirtualCards ?? isVirtual;
        if (!physical && !virtualCards)
        {
            throw new OpenCmException(DomainError.Validation($"{At}.physicalCards", "A smart card template issues to physical cards, virtual ones, or both."));
        }

        if (f.TemporaryCardValidityDays is < 1 or > 366)
        {
            throw new OpenCmException(DomainError.Validation($"{At}.temporaryCardValidityDays", "A temporary card lasts 1 to 366 days."));
        }

        return new SmartcardConfiguration
        {
            DefaultAdminKeyHex = key.ToUpperInvariant(),
            DiversifyAdminKey = f.DiversifyAdminKey,
            AdminKeyDiversificationAlgorithm = f.AdminKeyDiversificationAlgorithm,
            UserPinOption = pinOption,
            MinimumPinLength = f.MinimumPinLength,
            MaximumPinLength = f.MaximumPinLength,
            PinCharacters = characters,
            Middleware = f.Middleware,
            PhysicalCards = physical,
            VirtualCards = virtualCards,
            TemporaryCardValidityDays = f.TemporaryCardValidityDays,
        };
    }

    private static CertificateTemplate ToCertificateTemplate(TemplateFile.CertificateFile c, string at)
    {
        if (string.IsNullOrWhiteSpace(c.CommonName))
        {
            throw new OpenCmException(DomainError.Validation($"{at}.commonName", "A certificate template needs a commonName."));
        }

        var algorithm = c.KeyAlgorithm.ToUpperInvariant() switch
        {
            "RSA" => KeyAlgorithm.Rsa,
            "ECDSA_P256" or "P256" or "P-256" => KeyAlgorithm.EcdsaP256,
            "ECDSA_P384" or "P384" or "P-384" => KeyAlgorithm.EcdsaP384,
            _ => throw new OpenCmException(DomainError.Validation($"{at}.keyAlgorithm", $"'{c.KeyAlgorithm}' is not RSA, ECDSA_P256 or ECDSA_P384.")),
        };
        if (algorithm == KeyAlgorithm.Rsa && (c.KeySize < 2048 || c.KeySize > 8192 || c.KeySize % 1024 != 0))
        {
            throw new OpenCmException(DomainError.Validation($"{at}.keySize", "RSA keys are 2048 to 8192 bits, in steps of 1024."));
        }

        if (c.HashAlgorithm.ToUpperInvariant() is not ("SHA256" or "SHA384" or "SHA512"))
        {
            throw new OpenCmException(DomainError.Validation($"{at}.hashAlgorithm", "The hash is SHA256, SHA384 or SHA512."));
        }

        if (c.ValidityDays is < 1 or > 3650)
        {
            throw new OpenCmException(DomainError.Validation($"{at}.validityDays", "Validity is 1 to 3650 days."));
        }

        var usages = CertificateKeyUsage.None;
        foreach (var name in c.KeyUsages)
        {
            usages |= Enum.TryParse<CertificateKeyUsage>(name, true, out var u) && Enum.IsDefined(u) && u != CertificateKeyUsage.None
                ? u
                : throw new OpenCmException(DomainError.Validation($"{at}.keyUsages", $"'{name}' is not a key usage."));
        }

        foreach (var oid in c.ExtendedKeyUsages)
        {
            if (!OidPattern().IsMatch(oid))
            {
                throw new OpenCmException(DomainError.Validation($"{at}.extendedKeyUsages", $"'{oid}' is not an OID."));
            }
        }

        // SANs the directory fills in (issue #20): each kind once.
        var names = new List<string>();
        foreach (var name in c.SubjectAlternativeNames)
        {
            var kind = name.Trim().ToLowerInvariant();
            if (kind is not (CertificateTemplate.UpnName or CertificateTemplate.EmailName) || names.Contains(kind))
            {
                throw new OpenCmException(DomainError.Validation($"{at}.subjectAlternativeNames", $"'{name}' is not one of upn or email (each at most once)."));
            }

            names.Add(kind);
        }

        // Names a request may ask for (issue #24): every pattern valid now, so a check never meets one that is not; empty lists are no rules.
        RequestedNameRules? requested = null;
        if (c.RequestedNames is { } r)
        {
            requested = new RequestedNameRules { Dns = [.. r.Dns ?? []], Ip = [.. r.Ip ?? []], Uri = [.. r.Uri ?? []], MaxNames = r.MaxNames };
            if (RequestedNames.CheckRules(requested, $"{at}.requestedNames") is { } bad)
            {
                throw new OpenCmException(bad);
            }

            requested = requested.IsEmpty ? null : requested;
        }

        var template = new CertificateTemplate
        {
            CommonName = c.CommonName,
            FriendlyName = c.FriendlyName,
            Subject = c.Subject,
            KeyAlgorithm = algorithm,
            KeySize = algorithm == KeyAlgorithm.Rsa ? c.KeySize : 0,
            HashAlgorithm = c.HashAlgorithm.ToUpperInvariant(),
            KeyUsages = usages,
            ExtendedKeyUsages = [.. c.ExtendedKeyUsages],
            ValidityDays = c.ValidityDays,
            ServerGeneratesKey = c.ServerGeneratesKey,
            SubjectAlternativeNames = names,
            RequestedNames = requested,
        };

        // A subject the CA cannot build is refused now, naming it, not after a request's claim (issue #17).
        return CertificateSubject.Check(template) is { } refused
            ? throw new OpenCmException(DomainError.Validation($"{at}.subject", refused.Detail))
            : template;
    }

    [GeneratedRegex(@"^[0-2](\.(0|[1-9][0-9]*))+$")]
    private static partial Regex OidPattern();

    private async Task<string> ResolveAsync(string sddl, string field, CancellationToken ct)
    {
        var text = sddl;
        foreach (Match m in PrincipalPlaceholder().Matches(sddl))
        {
            var name = m.Groups[1].Value;
            var principal = await _directory.FindByNameAsync(name, ct).ConfigureAwait(false)
                ?? throw new OpenCmException(DomainError.Validation(field, $"The principal '{name}' is not in the directory."));
            text = text.Replace(m.Value, principal.Sid.Value, StringComparison.Ordinal);
        }

        try
        {
            // Stored in canonical form so that every later parse is of known-good text.
            return SddlParser.Parse(text).ToString();
        }
        catch (SddlParseException ex)
        {
            throw new OpenCmException(DomainError.Validation(field, ex.Message));
        }
    }

    [GeneratedRegex(@"\{([^{}]+)\}")]
    private static partial Regex PrincipalPlaceholder();
}
