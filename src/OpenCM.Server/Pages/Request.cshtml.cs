using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Pages;

/// <summary>
/// One request (issue #10.2-3): its status, what was collected, its approvals; approvers vote and
/// the originator cancels or abandons through the same use cases as the API, so dual control,
/// rights and audit are the API's. A request the caller may not read is a 404, as there.
/// </summary>
public sealed class RequestModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly RequestQueries _queries;
    private readonly RequestTransitions _transitions;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly TimeProvider _clock;
    private readonly AccessPolicy _access;
    private readonly IAuditLog _audit;
    private readonly EnrollmentService _enrollment;
    private readonly Dictionary<Guid, string> _names = [];

    public RequestModel(
        CallerResolver callers, RequestQueries queries, RequestTransitions transitions, ITemplateStore templates, IDirectory directory, TimeProvider clock,
        AccessPolicy access, IAuditLog audit, EnrollmentService enrollment)
    {
        _enrollment = enrollment;
        _clock = clock;
        _access = access;
        _audit = audit;
        _callers = callers;
        _queries = queries;
        _transitions = transitions;
        _templates = templates;
        _directory = directory;
    }

    public CmRequest Item { get; private set; } = null!;

    public string? TemplateName { get; private set; }

    public string? Error { get; private set; }

    public bool CanVote { get; private set; }

    public bool CanCancel { get; private set; }

    public bool CanAbandon { get; private set; }

    public bool CanComplete { get; private set; }

    /// <summary>A smart card request waiting for the card's client (the portal cannot reach a card).</summary>
    public bool WaitsForCardClient => RequestOffers.WaitsForCardClient(Item);

    /// <summary>The key step the caller may run now (keys made in the browser, or returned by the server), or null.</summary>
    public KeyPlan? Keys { get; private set; }

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
    public IReadOnlyList<ChainedAuditEvent> Trail { get; private set; } = [];

    public string NameOf(Guid user) => _names.TryGetValue(user, out var name) ? name : user.ToString("D");

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
        RequestPermission rights;
        try
        {
            (Item, rights) = await _queries.GetAsync(caller, id, HttpContext.RequestAborted);
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.NotFound)
        {
            return NotFound();
        }

        var template = await _templates.FindAsync(Item.ProfileTemplateUuid, HttpContext.RequestAborted);
        TemplateName = template?.Name;
        if (await _access.MaySeeAuditTrailAsync(caller, HttpContext.RequestAborted))
        {
            Trail = await _audit.ForSubjectAsync(Item.Uuid, HttpContext.RequestAborted);
        }

        foreach (var voter in Item.Votes.Select(v => v.Approver).Concat(Trail.Select(t => t.Event.Actor)).Distinct())
        {
            _names[voter] = (await _directory.FindAsync(voter, HttpContext.RequestAborted))?.Name ?? voter.ToString("D");
        }

        // Offer what the state machine would allow this caller now (it decides again on submit).
        var now = _clock.GetUtcNow();
        CanVote = RequestOffers.MayVote(Item, rights, caller, now);
        CanCancel = RequestOffers.MayMove(Item, RequestStatus.Canceled, rights, now);
        CanAbandon = RequestOffers.MayMove(Item, RequestStatus.Abandoned, rights, now);
        CanComplete = RequestOffers.MayMove(Item, RequestStatus.Completed, rights, now);
        Keys = await _enrollment.KeyPlanAsync(Item, rights, template, HttpContext.RequestAborted);
        if (error is not null)
        {
            Error = error.Detail;
            Response.StatusCode = ErrorMapping.StatusCode(error.Kind);
        }

        return Page();
    }
}
