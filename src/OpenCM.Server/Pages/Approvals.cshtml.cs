using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Pages;

/// <summary>A request waiting for the caller's vote, with who asked, who it is for and from which template.</summary>
public sealed record WaitingRequest(CmRequest Request, string OriginatorName, string TargetName, string TemplateName);

/// <summary>
/// The approvers' queue (issue #10.3): pending requests the caller may approve or deny and has
/// not voted on, as the API's rights say (dual control: originator and target never see theirs here).
/// </summary>
public sealed class ApprovalsModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly RequestQueries _queries;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly TimeProvider _clock;

    public ApprovalsModel(CallerResolver callers, RequestQueries queries, ITemplateStore templates, IDirectory directory, TimeProvider clock)
    {
        _callers = callers;
        _queries = queries;
        _templates = templates;
        _directory = directory;
        _clock = clock;
    }

    public IReadOnlyList<WaitingRequest> Waiting { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        var caller = await _callers.ResolveAsync(User, ct);
        var waiting = new List<WaitingRequest>();
        foreach (var pending in (await _queries.ListAsync(caller, new RequestListFilter(RequestStatus.Pending, null, 0, 200), ct)).Items)
        {
            var (request, rights) = await _queries.GetAsync(caller, pending.Uuid, ct);
            if (RequestOffers.MayVote(request, rights, caller, _clock.GetUtcNow()))
            {
                waiting.Add(new WaitingRequest(request,
                    (await _directory.FindAsync(request.OriginatorUserUuid, ct))?.Name ?? request.OriginatorUserUuid.ToString("D"),
                    (await _directory.FindAsync(request.TargetUserUuid, ct))?.Name ?? request.TargetUserUuid.ToString("D"),
                    (await _templates.FindAsync(request.ProfileTemplateUuid, ct))?.Name ?? request.ProfileTemplateUuid.ToString("D")));
            }
        }

        Waiting = waiting;
    }
}
