using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Portal;

/// <summary>Which of the portal's pages for approvers and managers the caller may use: what the navigation offers.</summary>
public sealed record PortalMenu(bool Approvals, bool HelpDesk, bool Reports);

/// <summary>
/// Who may use the portal's approvers' and managers' pages (issue #23.12), in one place: the pages
/// ask here before they show anything, and the navigation asks the same questions, so a link is
/// offered exactly to those the page serves. The rights themselves stay the access policy's (SPEC §5).
/// </summary>
public sealed class PortalAccess
{
    private readonly AccessPolicy _access;
    private readonly ITemplateStore _templates;

    public PortalAccess(AccessPolicy access, ITemplateStore templates)
    {
        _access = access;
        _templates = templates;
    }

    /// <summary>The help desk: CM managers (<see cref="AccessPolicy.MayUseHelpDeskAsync"/>).</summary>
    public ValueTask<bool> MayUseHelpDeskAsync(Caller caller, CancellationToken ct = default) => _access.MayUseHelpDeskAsync(caller, ct);

    /// <summary>The reports: CM managers (<see cref="AccessPolicy.MaySeeReportsAsync"/>).</summary>
    public ValueTask<bool> MaySeeReportsAsync(Caller caller, CancellationToken ct = default) => _access.MaySeeReportsAsync(caller, ct);

    /// <summary>
    /// The approvals queue: CM managers (every right on every request, SPEC §5) and whoever holds
    /// the approver role of an enabled policy that needs approvals on some template, the role a
    /// new request's descriptor grants Approve and Deny to (<see cref="RequestDescriptorBuilder"/>).
    /// </summary>
    public async ValueTask<bool> MayApproveAsync(Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (await _access.IsManagerAsync(caller, ct).ConfigureAwait(false))
        {
            return true;
        }

        return (await _templates.ListAsync(ct).ConfigureAwait(false)).Any(t => t.Policies.Values.Any(p => IsApprover(p, caller)));
    }

    /// <summary>
    /// What the navigation offers the signed-in caller of <paramref name="http"/>: nothing to
    /// someone not signed in, or whose session no longer names a caller (the page itself says so).
    /// </summary>
    public async Task<PortalMenu> MenuAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.User.Identity?.IsAuthenticated != true)
        {
            return None;
        }

        try
        {
            var caller = await http.RequestServices.GetRequiredService<CallerResolver>().ResolveAsync(http, http.RequestAborted).ConfigureAwait(false);
            return await MenuAsync(caller, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OpenCmException)
        {
            return None;
        }
    }

    private static readonly PortalMenu None = new(false, false, false);

    /// <summary>What the navigation offers <paramref name="caller"/>.</summary>
    public async Task<PortalMenu> MenuAsync(Caller caller, CancellationToken ct = default) => new(
        await MayApproveAsync(caller, ct).ConfigureAwait(false),
        await MayUseHelpDeskAsync(caller, ct).ConfigureAwait(false),
        await MaySeeReportsAsync(caller, ct).ConfigureAwait(false));

    private static bool IsApprover(WorkflowPolicy policy, Caller caller) =>
        policy.Enabled && policy.ApprovalsNeeded > 0 && RequestDescriptorBuilder.HoldsRole(policy.AuthorizedApprover, caller.Token, null);
}
