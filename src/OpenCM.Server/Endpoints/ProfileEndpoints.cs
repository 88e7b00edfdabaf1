using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Software profiles and certificates (SPEC §1): get-profile-data, get-profile-state-operations, certificates.</summary>
internal static class ProfileEndpoints
{
    public static RouteGroupBuilder MapProfileEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/profiles", async (HttpContext http, ProfileService profiles) =>
        {
            ProfileStatus? status = null;
            var text = http.Request.Query["status"].ToString();
            if (text.Length > 0)
            {
                status = EnumNames.TryParse<ProfileStatus>(text, out var s)
                    ? s
                    : throw new OpenCmException(DomainError.Validation("status", $"'{text}' is not a profile status."));
            }

            return EndpointContext.Json((await profiles.ListAsync(http.Caller(), status, http.RequestAborted)).Select(ProfileDto.From).ToList());
        }).Returns<List<ProfileDto>>();
        api.MapGet("/profiles/{id}", async (HttpContext http, string id, ProfileService profiles) =>
            EndpointContext.Json(ProfileDto.From(await profiles.GetAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)))).Returns<ProfileDto>();
        api.MapGet("/requests/{id}/profiles", async (HttpContext http, string id, ProfileService profiles) =>
            EndpointContext.Json((await profiles.ForRequestAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)).Select(ProfileDto.From).ToList())).Returns<List<ProfileDto>>();
        api.MapGet("/profiles/{id}/operations", async (HttpContext http, string id, ProfileService profiles) =>
            EndpointContext.Json(ProfileDto.Operations((await profiles.GetAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)).Operations))).Returns<IReadOnlyList<string>>();
        api.MapGet("/profiles/{id}/certificates", async (HttpContext http, string id, ProfileService profiles) =>
            EndpointContext.Json((await profiles.CertificatesAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)).Select(ProfileCertificateDto.From).ToList())).Returns<List<ProfileCertificateDto>>();
        // The issuer named is the CA that signed each certificate: after a rollover, not always the active one (issue #20.1).
        api.MapGet("/certificates", async (HttpContext http, ProfileService profiles, CertificateAuthorities authorities) =>
            EndpointContext.Json((await profiles.UserCertificatesAsync(http.Caller(), http.RequestAborted))
                .Select(c => UserCertificateDto.From(c, ((c.Certificate.Certificate.Der.Length > 0 ? authorities.IssuerOf(c.Certificate.Certificate.Der) : null) ?? authorities.Active).Signer.Certificate.Subject))
                .ToList())).Returns<List<UserCertificateDto>>();
        return api;
    }
}
