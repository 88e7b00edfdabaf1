using System.Formats.Asn1;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// EST (RFC 7030) at <c>/.well-known/est/</c> and <c>/.well-known/est/{label}/</c> (issue #24.2):
/// so far <c>cacerts</c> only (§4.1), unauthenticated as §4.1.1 allows. The other operations of
/// §3.2.2 answer 501 until their use cases exist; any other name is 404. Errors are HTTP statuses
/// with text bodies (<see cref="EstProblems"/>), never problem JSON. docs/est.md.
/// </summary>
internal static class EstEndpoints
{
    public const string Root = "/.well-known/est";

    // RFC 7030 §3.2.2's operation path segments that OpenCM does not serve yet.
    private static readonly string[] NotYet = ["simpleenroll", "simplereenroll", "serverkeygen", "csrattrs", "fullcmc"];

    public static IEndpointRouteBuilder MapEstEndpoints(this IEndpointRouteBuilder app)
    {
        // Every method reaches the handler: a POST to cacerts is 405, not the fallback's 404.
        app.Map(Root + "/{operation}", (string operation, HttpContext http, CertificateAuthorities authorities) =>
            Operation(operation, http, authorities)).ExcludeFromDescription();
        app.Map(Root + "/{label}/{operation}", async (string label, string operation, HttpContext http, CertificateAuthorities authorities, ITemplateStore templates, CancellationToken ct) =>
        {
            // The label first: an unknown label is 404 whatever the operation (§3.2.2: the label names a CA's policy).
            await EstTemplateAsync(templates, label, ct);
            return Operation(operation, http, authorities);
        }).ExcludeFromDescription();
        return app;
    }

    private static IResult Operation(string operation, HttpContext http, CertificateAuthorities authorities)
    {
        if (string.Equals(operation, "cacerts", StringComparison.Ordinal))
        {
            if (!HttpMethods.IsGet(http.Request.Method))
            {
                http.Response.Headers.Allow = "GET";
                return Results.Text("cacerts answers GET only (RFC 7030 §4.1.1).\n", "text/plain", System.Text.Encoding.UTF8, StatusCodes.Status405MethodNotAllowed);
            }

            // §4.1.3: a certs-only CMS, DER, in base64 with the Content-Transfer-Encoding header (RFC 2045 lines).
            http.Response.Headers["Content-Transfer-Encoding"] = "base64";
            var body = Convert.ToBase64String(CertsOnly(authorities.Active.Chain), Base64FormattingOptions.InsertLineBreaks) + "\r\n";
            return Results.Text(body, "application/pkcs7-mime");
        }

        if (Array.IndexOf(NotYet, operation) >= 0)
        {
            // TODO(#24): simpleenroll, simplereenroll, csrattrs, serverkeygen through the request use cases.
            return Results.Text($"EST {operation} is not implemented by this server yet; cacerts is.\n", "text/plain", System.Text.Encoding.UTF8, StatusCodes.Status501NotImplemented);
        }

        throw new OpenCmException(DomainError.NotFound("No such EST operation."));
    }

    // The template whose label is <label> and which allows EST; anything else is 404, saying no more
    // than that (whether a template of that label exists without EST is not the client's business).
    private static async Task<ProfileTemplate> EstTemplateAsync(ITemplateStore templates, string label, CancellationToken ct)
    {
        var matches = (await templates.ListAsync(ct))
            .Where(t => t.Allows(EnrollmentProtocol.Est) && string.Equals(TemplateLabels.Of(t.Name), label, StringComparison.Ordinal))
            .Take(2).ToList();

        // Two EST templates whose names differ only in case or space/hyphen share a label: neither is served by it (docs/est.md).
        return matches.Count == 1 ? matches[0] : throw new OpenCmException(DomainError.NotFound("No EST service under this label."));
    }

    /// <summary>
    /// A degenerate certs-only CMS SignedData (RFC 7030 §4.1.3, RFC 5652 §5): version 1, no digest
    /// algorithms, id-data without content, the certificates, no signers. DER sorts the SET OF.
    /// </summary>
    internal static byte[] CertsOnly(IEnumerable<ReadOnlyMemory<byte>> certificates)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier("1.2.840.113549.1.7.2"); // id-signedData
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (writer.PushSequence())
            {
                writer.WriteInteger(1);
                using (writer.PushSetOf())
                {
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier("1.2.840.113549.1.7.1"); // id-data, no eContent
                }

                using (writer.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    foreach (var certificate in certificates)
                    {
                        writer.WriteEncodedValue(certificate.Span);
                    }
                }

                using (writer.PushSetOf())
                {
                }
            }
        }

        return writer.Encode();
    }
}

/// <summary>
/// EST's problem writer (RFC 7030 §4.2.3: errors are HTTP statuses, the body text for a person):
/// every request under <c>/.well-known/est/</c> gets its error as text/plain, never problem JSON.
/// </summary>
internal sealed class EstProblems : IProblemWriter
{
    public static readonly EstProblems Instance = new();

    public bool Answers(HttpContext context) =>
        (context.Request.Path.Value ?? "").StartsWith(EstEndpoints.Root + "/", StringComparison.OrdinalIgnoreCase)
        || string.Equals(context.Request.Path.Value, EstEndpoints.Root, StringComparison.OrdinalIgnoreCase);

    public Task WriteAsync(HttpContext context, DomainError error, int status)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var bytes = System.Text.Encoding.UTF8.GetBytes(error.Detail + "\n");
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}
