using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Profile templates and their workflow policies (get-profile-templates, get-workflow-policy).</summary>
internal static class ProfileTemplateEndpoints
{
    public static RouteGroupBuilder MapProfileTemplateEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/profiletemplates", ListAsync).Returns<List<ProfileTemplateDto>>();
        api.MapGet("/profiletemplates/{id}", GetAsync).Returns<ProfileTemplateDto>();
        api.MapGet("/profiletemplates/{id}/policies/{type}", PolicyAsync).Returns<WorkflowPolicyDto>();
        api.MapGet("/profiletemplates/{id}/policy/workflow/{type}", PolicyAsync).Returns<WorkflowPolicyDto>();
        api.MapGet("/profiletemplates/{id}/configuration/smartcards", SmartcardsAsync).Returns<SmartcardConfigurationDto>();
        return api;
    }

    private static async Task<IResult> ListAsync(HttpContext http, TemplateService templates)
    {
        var targetUser = http.Request.Query["targetuser"].ToString();
        if (targetUser.Length > 0 && !targetUser.Equals("current", StringComparison.OrdinalIgnoreCase))
        {
            throw new OpenCmException(DomainError.Validation("targetuser", "Only the current user is supported."));
        }

        var visible = await templates.ListVisibleAsync(http.Caller(), http.RequestAborted);
        return EndpointContext.Json(visible.Select(ProfileTemplateDto.From).ToList());
    }

    private static async Task<IResult> GetAsync(HttpContext http, string id, TemplateService templates) =>
        EndpointContext.Json(ProfileTemplateDto.From(await templates.GetAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)));

    private static async Task<IResult> PolicyAsync(HttpContext http, string id, string type, TemplateService templates)
    {
        var templateId = EndpointContext.RouteGuid(id, "id");
        if (!RequestTypeNames.TryParse(type, out var requestType))
        {
            throw new OpenCmException(DomainError.Validation("type", $"'{type}' is not a request type."));
        }

        var policy = await templates.GetPolicyAsync(http.Caller(), templateId, requestType, http.RequestAborted);
        return EndpointContext.Json(WorkflowPolicyDto.From(policy));
    }

    // Walkthrough step 12: the card policy the client personalizes the card with.
    private static async Task<IResult> SmartcardsAsync(HttpContext http, string id, TemplateService templates)
    {
        var (template, configuration) = await templates.GetSmartcardConfigurationAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted);
        return EndpointContext.Json(SmartcardConfigurationDto.From(template, configuration));
    }
}
