using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Pages;

/// <summary>
/// Starting a request from the template's policy for its type (issue #10.2): Enroll by default,
/// or an operation on a profile or card the user has (<c>?type=renew&amp;profile=…</c>, as the
/// home page offers them). The form shows what the policy collects; the request is made by the
/// same use case as POST /requests, so validation, rights and audit are the API's, and a refusal
/// is the same 4xx with its message on the page. Once made, the request's own page opens.
/// </summary>
public sealed class NewRequestModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly TemplateService _templates;
    private readonly RequestCreation _creation;
    private readonly ApiOptions _api;
    private readonly IDirectory _directory;

    public NewRequestModel(CallerResolver callers, TemplateService templates, RequestCreation creation, ApiOptions api, IDirectory directory)
    {
        _directory = directory;
        _callers = callers;
        _templates = templates;
        _creation = creation;
        _api = api;
    }

    public ProfileTemplate Template { get; private set; } = null!;

    /// <summary>The request type (<c>?type=</c>), Enroll when absent.</summary>
    [BindProperty(SupportsGet = true, Name = "type")]
    public string? TypeName { get; set; }

    /// <summary>The profile an operation acts on (<c>?profile=</c>).</summary>
    [BindProperty(SupportsGet = true)]
    public Guid? Profile { get; set; }

    /// <summary>The card an operation acts on (<c>?smartcard=</c>).</summary>
    [BindProperty(SupportsGet = true)]
    public Guid? Smartcard { get; set; }

    public RequestType Type { get; private set; } = RequestType.Enroll;

    /// <summary>On behalf of another user (by name): offered to whoever the policy names as an initiator.</summary>
    [BindProperty(Name = "onbehalf")]
    public string? OnBehalf { get; set; }

    public bool MayActOnBehalf { get; private set; }

    public WorkflowPolicy Policy { get; private set; } = null!;

    [BindProperty(Name = "item")]
    public Dictionary<string, string> Items { get; set; } = [];

    [BindProperty]
    public string? Comment { get; set; }

    [BindProperty]
    public string? Priority { get; set; }

    public string? Error { get; private set; }

    public string? ErrorField { get; private set; }

    public string Value(string name) => Items.TryGetValue(name, out var v) ? v : "";

    public async Task<IActionResult> OnGetAsync(Guid template) => await LoadAsync(template) ?? Page();

    public async Task<IActionResult> OnPostAsync(Guid template)
    {
        if (await LoadAsync(template) is { } notFound)
        {
            return notFound;
        }

        // 1. The form as the API's body would carry it; a priority that is not a number is the API's 400 too.
        int? priority = null;
        if (!string.IsNullOrWhiteSpace(Priority))
        {
            if (!int.TryParse(Priority, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p))
            {
                return Refused(DomainError.Validation("priority", "The priority must be a whole number."));
            }

            priority = p;
        }

        var data = Items.Where(i => !string.IsNullOrEmpty(i.Value)).Select(i => new DataItem(i.Key, i.Value)).ToList();

        // On behalf of someone, named (SPEC §5). Whoever may not initiate for others is refused
        // before the name is looked up, alike for every name (issue #18.8: a 403 for a user that
        // exists and a 400 for one that does not told anyone signed in which names exist); the use
        // case decides again on the user the name finds.
        // An operation's target is its credential's owner, whatever the form says.
        Guid? target = null;
        if (!string.IsNullOrWhiteSpace(OnBehalf) && Profile is null && Smartcard is null)
        {
            if (!MayActOnBehalf)
            {
                return Refused(DomainError.Forbidden($"Only an authorized initiator may create {Type} requests for another user."));
            }

            var user = OnBehalf.Length <= 256 ? await _directory.FindByNameAsync(OnBehalf.Trim(), HttpContext.RequestAborted) : null;
            if (user is not { Kind: PrincipalKind.User })
            {
                return Refused(DomainError.Validation("target", $"No user named '{OnBehalf}' exists."));
            }

            target = user.Uuid;
        }

        // 2. The same use case as POST /requests.
        CmRequest created;
        try
        {
            var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
            var onCredential = Profile is not null || Smartcard is not null;
            created = await _creation.CreateAsync(caller, new CreateRequestInput(Type, onCredential ? null : template, data, target, Comment, priority, Smartcard, Profile),
                Errors.Correlation.Get(HttpContext), HttpContext.RequestAborted);
        }
        catch (OpenCmException e) when (e.Error.Kind is not ErrorKind.Internal)
        {
            return Refused(e.Error);
        }

        // 3. The new request's own page, which says what happens next (issue #23.11).
        return LocalRedirect($"{_api.PathBase.TrimEnd('/')}/requests/{created.Uuid:D}");
    }

    // The template as GET /profiletemplates/{id} shows it to this caller, with its policy for the type; else 404.
    private async Task<IActionResult?> LoadAsync(Guid template)
    {
        if (TypeName is { Length: > 0 } named)
        {
            if (!RequestTypeNames.TryParse(named, out var parsed))
            {
                return NotFound();
            }

            Type = parsed;
        }

        try
        {
            var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
            Template = await _templates.GetAsync(caller, template, HttpContext.RequestAborted);
            Policy = Template.PolicyFor(Type) ?? throw new OpenCmException(DomainError.NotFound($"The template takes no {Type} requests."));

            // An authorized initiator may ask for someone else (a new credential only; an operation's owner is its credential's).
            MayActOnBehalf = Profile is null && Smartcard is null && AccessPolicy.MayInitiate(Policy, caller, Guid.NewGuid());
            return null;
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.NotFound)
        {
            return NotFound();
        }
    }

    private PageResult Refused(DomainError error)
    {
        Error = error.Detail;
        ErrorField = error.Field;
        Response.StatusCode = Errors.ErrorMapping.StatusCode(error.Kind);
        return Page();
    }
}
