using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Portal;

/// <summary>
/// The portal's problem writer (issue #10): a browser (<c>Accept: text/html</c>) on a path under
/// the portal gets the error as a page, with the same status and title as the API's problem JSON;
/// under <c>/api/v1.0/</c>, <c>/crl/</c> and <c>/ca/</c> the answer is always problem JSON.
/// </summary>
internal sealed class PortalProblems : IProblemWriter
{
    public static readonly PortalProblems Instance = new();

    public bool Answers(HttpContext context)
    {
        var root = context.RequestServices.GetService<Hosting.ApiOptions>()?.PathBase.TrimEnd('/') ?? "/CertificateManagement";
        var path = context.Request.Path.Value ?? "";
        return path.StartsWith(root + "/", StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + Endpoints.ApiPaths.Version, StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + "/crl/", StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + "/ca/", StringComparison.OrdinalIgnoreCase)
            && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }

    public Task WriteAsync(HttpContext context, DomainError error, int status)
    {
        var root = System.Net.WebUtility.HtmlEncode(context.RequestServices.GetService<Hosting.ApiOptions>()?.PathBase.TrimEnd('/') ?? "/CertificateManagement");
        var title = System.Net.WebUtility.HtmlEncode(ErrorMapping.Title(error.Kind));
        var detail = System.Net.WebUtility.HtmlEncode(error.Detail);
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · OpenCM</title><link rel="stylesheet" href="{root}/static/portal.css"></head>
            <body><main id="main"><h1>{title}</h1><p role="alert">{detail}</p><p>Reference: <code>{System.Net.WebUtility.HtmlEncode(Correlation.Echo(context))}</code></p><p><a href="{root}/">Back to the portal</a></p></main></body>
            </html>
            """;
        context.Response.ContentType = "text/html; charset=utf-8";
        var bytes = System.Text.Encoding.UTF8.GetBytes(html);
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}
