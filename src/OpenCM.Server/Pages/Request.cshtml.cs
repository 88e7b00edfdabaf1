using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>
/// One request (issue #10.2-3): its status, what was collected, its approvals; approvers vote and
/// the originator cancels or abandons through the same use cases as the API, so dual control,
/// rights and audit are the API's. A request the caller may not read is a 404, as there.
/// </summary>
public sealed class RequestModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly PortalViews _views;
    private readonly RequestTransitions _transitions;
    private readonly EnrollmentService _enrollment;
    private readonly IProfileStore _profiles;

    public RequestModel(CallerResolver callers, PortalViews views, RequestTransitions transitions, EnrollmentService enrollment, IProfileStore profiles)
    {
        _profiles = profiles;
        _callers = callers;
        _views = views;
        _transitions = transitions;
        _enrollment = enrollment;
    }

    /// <summary>The request as <see cref="PortalViews.RequestAsync"/> prepares it for the caller.</summary>
    public RequestView View { get; private set; } = null!;

    public CmRequest Item => View.Request;

    public string? TemplateName => View.TemplateName;

    public string? Error { get; private set; }

    /// <summary>What the page says first (issue #23.11): the request's next step in words, derived in <see cref="RequestNextStep"/> alone.</summary>
    public NextStep Next => RequestNextStep.Of(new NextStepFacts(
        Item.RequestType,
        Item.Status,
        Item.ApprovalsNeeded,
        Item.Votes.Count(v => v.Approve),
        CanVote,
        Keys is not null,
        Keys is { ClientKeys.Count: > 0 },
        WaitsForCardClient,
        CanComplete));

    /// <summary>
    /// For a completed Revoke (issue #23.13): the certificates it revoked, named by their user,
    /// template and serial, so whoever revoked them (the help desk on a user's behalf) sees whose they were.
    /// </summary>
    public IReadOnlyList<StoredCertificate> Revoked { get; private set; } = [];

    public bool CanVote => View.CanVote;

    public bool CanCancel => View.CanCancel;

    public bool CanAbandon => View.CanAbandon;

    public bool CanComplete => View.CanComplete;

    /// <summary>A smart card request waiting for the card's client (the portal cannot reach a card).</summary>
    public bool WaitsForCardClient => View.WaitsForCardClient;

    /// <summary>The <c>opencm</c> command that carries the request out on the card's computer (issue #22), or null for a kind no card command runs.</summary>
    public string? CardCommand => WaitsForCardClient ? CardClientCommand(Item, $"{Request.Scheme}://{Request.Host}{Request.PathBase}") : null;

    /// <summary>
    /// The card client's command for <paramref name="request"/>, with its values: the verb its kind
    /// needs (docs/smartcards.md), the request, this server; the reader is the user's to name.
    /// </summary>
    public static string? CardClientCommand(CmRequest request, string server)
    {
        ArgumentNullException.ThrowIfNull(request);
        var verb = request.RequestType switch
        {
            RequestType.Enroll or RequestType.Duplicate or RequestType.Recover or RequestType.TemporaryCards => "enroll",
            RequestType.Renew or RequestType.OnlineUpdate => "renew",
            RequestType.Unblock => "unblock",
            RequestType.Retire => "retire",
            RequestType.OfflineUnblock => "offline-unblock",
            _ => null,
        };
        return verb switch
        {
            null => null,

            // The help desk answers an offline unblock; the card's computer needs no server for its half.
            "offline-unblock" => "opencm card offline-unblock --reader \"READER\"",
            _ => $"opencm card {verb} --server \"{server}\" --reader \"READER\" --request {request.Uuid:D}",
        };
    }

    /// <summary>The key step the caller may run now (keys made in the browser, or returned by the server), or null.</summary>
    public KeyPlan? Keys => View.Keys;

    /// <summary>What the browser needs to make each key: the template's algorithm, size, hash and name.</summary>
    public string KeyOptionsJson => System.Text.Json.JsonSerializer.Serialize(
        (Keys?.ClientKeys ?? []).Select(o => new Dictionary<string, object>
        {
            ["algorithm"] = o.Template.KeyAlgorithm.ToString(),
            ["keySize"] = o.Template.KeySize,
            ["hash"] = o.Template.HashAlgorithm,
            ["commonName"] = o.Template.CommonName,
        }));

    /// <summary>The request's audit trail, for CM managers (the help desk); empty for anyone else.</summary>
    public IReadOnlyList<ChainedAuditEvent> Trail => View.Trail;

    public string NameOf(Guid user) => View.NameOf(user);

    public Task<IActionResult> OnGetAsync(Guid id) => ShowAsync(id, null);

    public async Task<IActionResult> OnPostVoteAsync(Guid id, string? decision, string? comment)
    {
        var approve = decision switch
        {
            "approve" => true,
            "deny" => false,
            _ => (bool?)null,
        };
        return approve is null
            ? await ShowAsync(id, DomainError.Validation("decision", "The decision is approve or deny."))
            : await ActAsync(id, (caller, ct) => _transitions.VoteAsync(caller, id, approve.Value, comment ?? "", Correlation.Get(HttpContext), ct));
    }

    public async Task<IActionResult> OnPostEndAsync(Guid id, string? status) => status switch
    {
        "Canceled" => await ActAsync(id, (caller, ct) => _transitions.SetStatusAsync(caller, id, RequestStatus.Canceled, null, Correlation.Get(HttpContext), ct)),
        "Completed" => await ActAsync(id, (caller, ct) => _transitions.SetStatusAsync(caller, id, RequestStatus.Completed, null, Correlation.Get(HttpContext), ct)),
        "Abandoned" => await ActAsync(id, (caller, ct) => _transitions.SetStatusAsync(caller, id, RequestStatus.Abandoned, null, Correlation.Get(HttpContext), ct)),
        _ => await ShowAsync(id, DomainError.Validation("status", "The status is Completed, Canceled or Abandoned.")),
    };

    /// <summary>
    /// The key step (issue #10.2), posted by the page's script: the CSRs of keys made in the
    /// browser, and the PFX password only when the server returns keys of its own. The same use
    /// case as POST certificatedata; a refusal is the API's problem document.
    /// </summary>
    public async Task<IActionResult> OnPostIssueAsync(Guid id, [FromForm(Name = "csr")] string[]? csr, [FromForm(Name = "password")] string? password)
    {
        var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
        var (_, results) = await _enrollment.SubmitCertificateDataAsync(
            caller, id, csr ?? [], string.IsNullOrEmpty(password) ? null : password, Correlation.Get(HttpContext), HttpContext.RequestAborted);
        return new JsonResult(new Dictionary<string, object>
        {
            ["files"] = results.Select(r => new Dictionary<string, object>
            {
                ["name"] = FileName(r),
                ["kind"] = r.Pfx is null ? "pkcs7" : "pfx",
                ["data"] = Convert.ToBase64String(r.Pfx ?? r.Pkcs7 ?? []),
                ["keyHistory"] = r.IsKeyHistory,
            }).ToList(),
        });
    }

    // e.g. "UserSignature-3f2a….pfx": the template and the serial, nothing a file system minds.
    private static string FileName(CertificateDelivery d)
    {
        var stem = new string([.. d.Template.CommonName.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')]);
        return $"{(stem.Length == 0 ? "certificate" : stem)}-{d.Certificate.SerialHex.ToLowerInvariant()}.pfx";
    }

    // The certificates of the profiles the Revoke named (its own, or its card's) that stand revoked now.
    private async Task<IReadOnlyList<StoredCertificate>> RevokedByAsync(CmRequest request, CancellationToken ct)
    {
        var profiles = new List<Guid>();
        if (request.OldProfileUuid != Guid.Empty)
        {
            profiles.Add(request.OldProfileUuid);
        }

        if (request.OldSmartcardUuid != Guid.Empty)
        {
            profiles.AddRange((await _profiles.ForSmartcardAsync(request.OldSmartcardUuid, ct)).Select(p => p.Uuid));
        }

        var revoked = new List<StoredCertificate>();
        foreach (var profile in profiles.Distinct())
        {
            revoked.AddRange((await _profiles.CertificatesOfProfileAsync(profile, ct)).Where(c => c.Status == CertificateStatus.Revoked));
        }

        return revoked;
    }

    // Do it as the API would; a refusal is shown on the page with the API's status.
    private async Task<IActionResult> ActAsync(Guid id, Func<Caller, CancellationToken, Task<CmRequest>> act)
    {
        try
        {
            await act(await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted), HttpContext.RequestAborted);
        }
        catch (OpenCmException e) when (e.Error.Kind is not (ErrorKind.Internal or ErrorKind.NotFound))
        {
            return await ShowAsync(id, e.Error);
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.NotFound)
        {
            return NotFound();
        }

        // Post/redirect/get: a reload does not send the vote again.
        return RedirectToPage(new { id });
    }

    private async Task<IActionResult> ShowAsync(Guid id, DomainError? error)
    {
        var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
        try
        {
            View = await _views.RequestAsync(caller, id, HttpContext.RequestAborted);
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.NotFound)
        {
            return NotFound();
        }

        if (Item is { RequestType: RequestType.Revoke, Status: RequestStatus.Completed })
        {
            Revoked = await RevokedByAsync(Item, HttpContext.RequestAborted);
        }

        if (error is not null)
        {
            Error = error.Detail;
            Response.StatusCode = ErrorMapping.StatusCode(error.Kind);
        }

        return Page();
    }
}
