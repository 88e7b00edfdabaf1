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
        var caller = await _callers.ResolveAsync(HttpContext, ct);
        var waiting = new List<WaitingRequest>();

        // The list's rows are the requests as the caller may read them; the rights on each come from
        // its descriptor, and each user's and template's name is read once however many rows share it.
        var users = new Dictionary<Guid, string>();
        var templates = new Dictionary<Guid, string>();
        foreach (var request in (await _queries.ListAsync(caller, new RequestListFilter(RequestStatus.Pending, null, 0, 200), ct)).Items)
        {
            if (RequestOffers.MayVote(request, AccessPolicy.RightsOn(request, caller), caller, _clock.GetUtcNow()))
            {
                waiting.Add(new WaitingRequest(request, await UserNameAsync(request.OriginatorUserUuid), await UserNameAsync(request.TargetUserUuid),
                    await NameAsync(templates, request.ProfileTemplateUuid, async id => (await _templates.FindAsync(id, ct))?.Name)));
            }
        }

        Task<string> UserNameAsync(Guid id) => NameAsync(users, id, async u => (await _directory.FindAsync(u, ct))?.Name);

        Waiting = waiting;
    }

    private static async Task<string> NameAsync(Dictionary<Guid, string> known, Guid id, Func<Guid, Task<string?>> read)
    {
        if (!known.TryGetValue(id, out var name))
        {
            known[id] = name = await read(id) ?? id.ToString("D");
        }

        return name;
    }
}
