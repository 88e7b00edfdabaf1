using System.Formats.Asn1;
using System.Text;
using Microsoft.Net.Http.Headers;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// EST (RFC 7030) at <c>/.well-known/est/</c> and <c>/.well-known/est/{label}/</c> (issue #24.2):
/// <c>cacerts</c> (§4.1, unauthenticated as §4.1.1 allows), <c>csrattrs</c> (§4.5),
/// <c>simpleenroll</c> and <c>simplereenroll</c> (§4.2) as a front-end of the one device
/// enrollment (<see cref="DeviceEnrollment"/>), so templates, approvals, rate limits and the
/// audit apply unchanged; <c>serverkeygen</c> (§4.4, HTTPS only) where the template's certificate
/// has the server make the key. <c>fullcmc</c> answers 501; any other name is
/// 404. Errors are HTTP statuses with text bodies (<see cref="EstProblems"/>), never problem JSON.
/// docs/est.md.
/// </summary>
internal static class EstEndpoints
{
    public const string Root = "/.well-known/est";

    /// <summary>§4.2.1 and §4.4.1: the media type of an enrollment's body.</summary>
    public const string Pkcs10 = "application/pkcs10";

    public static IEndpointRouteBuilder MapEstEndpoints(this IEndpointRouteBuilder app)
    {
        // Every method reaches the handler: a POST to cacerts is 405, not the fallback's 404.
        app.Map(Root + "/{operation}", (string operation, HttpContext http, CancellationToken ct) =>
            OperationAsync(null, operation, http, ct)).ExcludeFromDescription();
        app.Map(Root + "/{label}/{operation}", (string label, string operation, HttpContext http, CancellationToken ct) =>
            OperationAsync(label, operation, http, ct)).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> OperationAsync(string? label, string operation, HttpContext http, CancellationToken ct)
    {
        var templates = http.RequestServices.GetRequiredService<ITemplateStore>();

        // The label first: an unknown label is 404 whatever the operation (§3.2.2: the label names a CA's policy).
        var labelled = label is null ? null : await EstTemplateAsync(templates, label, ct);
        switch (operation)
        {
            case "cacerts":
                return OnlyGet(http, operation) ?? CaCerts(http);
            case "csrattrs":
                return OnlyGet(http, operation) ?? CsrAttributes(http, labelled ?? await DefaultTemplateAsync(templates, ct));
            case "simpleenroll":
            case "simplereenroll":
                return OnlyPost(http, operation) ?? await EnrollAsync(http, labelled ?? await DefaultTemplateAsync(templates, ct), reenroll: operation == "simplereenroll", ct);
            case "serverkeygen":
                if (OnlyPost(http, operation) is { } notPost)
                {
                    return notPost;
                }

                // Before anything else: the answer carries a private key (§4.4.2), which never travels in clear.
                if (!http.Request.IsHttps)
                {
                    throw new OpenCmException(new DomainError(ErrorKind.Forbidden,
                        "serverkeygen returns a private key and is served over HTTPS only (RFC 7030 §4.4.2): use https://."));
                }

                return await ServerKeyGenAsync(http, labelled ?? await DefaultTemplateAsync(templates, ct), ct);
            case "fullcmc":
                return OnlyPost(http, operation) ?? Results.Text(
                    "EST fullcmc (RFC 7030 §4.3, optional) is not implemented by this server.\n",
                    "text/plain", Encoding.UTF8, StatusCodes.Status501NotImplemented);
            default:
                throw new OpenCmException(DomainError.NotFound("No such EST operation."));
        }
    }

    private static IResult CaCerts(HttpContext http)
    {
        // §4.1.3: a certs-only CMS, DER, in base64 with the Content-Transfer-Encoding header (RFC 2045 lines).
        var authorities = http.RequestServices.GetRequiredService<CertificateAuthorities>();
        return Base64(http, CertsOnly(authorities.Active.Chain), "application/pkcs7-mime");
    }

    /// <summary>
    /// §4.5: what the template wants of a CSR, as CsrAttrs (a SEQUENCE of OIDs and attributes):
    /// the key algorithm (for ECDSA an attribute id-ecPublicKey with the curve, for RSA the OID
    /// rsaEncryption) and the signature algorithm of the template's hash. No challengePassword:
    /// OpenCM does not use it. 204 when the template has no certificate a client makes the key of.
    /// </summary>
    private static IResult CsrAttributes(HttpContext http, ProfileTemplate template)
    {
        var certificate = template.CertificateTemplates.FirstOrDefault(c => !c.ServerGeneratesKey);
        if (certificate is null)
        {
            return Results.NoContent();
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            var (keyOid, curveOid, signatureOid) = Algorithms(certificate);
            if (curveOid is null)
            {
                writer.WriteObjectIdentifier(keyOid);
            }
            else
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(keyOid);
                    using (writer.PushSetOf())
                    {
                        writer.WriteObjectIdentifier(curveOid);
                    }
                }
            }

            writer.WriteObjectIdentifier(signatureOid);
        }

        return Base64(http, writer.Encode(), "application/csrattrs");
    }

    // (public key OID, curve OID for ECDSA, signature algorithm OID for the template's hash)
    private static (string Key, string? Curve, string Signature) Algorithms(CertificateTemplate certificate)
    {
        var hash = certificate.HashAlgorithm.ToUpperInvariant();
        return certificate.KeyAlgorithm switch
        {
            KeyAlgorithm.EcdsaP256 or KeyAlgorithm.EcdsaP384 => (
                "1.2.840.10045.2.1",
                certificate.KeyAlgorithm == KeyAlgorithm.EcdsaP256 ? "1.2.840.10045.3.1.7" : "1.3.132.0.34",
                hash switch { "SHA384" => "1.2.840.10045.4.3.3", "SHA512" => "1.2.840.10045.4.3.4", _ => "1.2.840.10045.4.3.2" }),
            _ => (
                "1.2.840.113549.1.1.1",
                null,
                hash switch { "SHA384" => "1.2.840.113549.1.1.12", "SHA512" => "1.2.840.113549.1.1.13", _ => "1.2.840.113549.1.1.11" }),
        };
    }

    /// <summary>
    /// §4.2: simpleenroll (a first certificate: Basic, Negotiate or a client certificate) and
    /// simplereenroll (§4.2.2: the current certificate as the TLS client certificate; the CSR
    /// asks for its subject and names again). Checks in the order a client can mend them: who,
    /// then the body's type, size and encoding, then the request itself; nothing is created
    /// before each has passed.
    /// </summary>
    private static async Task<IResult> EnrollAsync(HttpContext http, ProfileTemplate template, bool reenroll, CancellationToken ct)
    {
        var caller = await http.RequestServices.GetRequiredService<EstAuthentication>().AuthenticateAsync(http, ct);
        if (reenroll && caller.Current is null)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Unauthenticated,
                "simplereenroll needs the current certificate as the TLS client certificate (RFC 7030 §4.2.2); a first certificate comes from simpleenroll."));
        }

        var der = await CertificateRequestAsync(http, ct);
        var request = EstRequests.Parse(der);
        if (caller.Current is { } current && reenroll)
        {
            EstRequests.CheckSameAs(request, current);
        }

        return await EstEnrollment.SubmitAsync(http, caller.Caller, template, der, reenroll ? EstEnrollment.Operation.SimpleReenroll : EstEnrollment.Operation.SimpleEnroll, ct);
    }

    /// <summary>
    /// §4.4: the server makes the key (the template's certificate is ServerGeneratesKey, the key
    /// archived sealed), the CSR only names what the client wants. Over HTTPS only: the key is
    /// returned unencrypted (§4.4.2 without encryption attributes) and TLS is what protects it.
    /// </summary>
    private static async Task<IResult> ServerKeyGenAsync(HttpContext http, ProfileTemplate template, CancellationToken ct)
    {
        var caller = await http.RequestServices.GetRequiredService<EstAuthentication>().AuthenticateAsync(http, ct);
        var der = await CertificateRequestAsync(http, ct);
        _ = EstRequests.Parse(der);
        return await EstEnrollment.SubmitAsync(http, caller.Caller, template, der, EstEnrollment.Operation.ServerKeyGen, ct);
    }

    // The body: application/pkcs10, at most Est:MaxRequestBytes, base64 of a DER PKCS#10 (PEM armour tolerated).
    private static async Task<byte[]> CertificateRequestAsync(HttpContext http, CancellationToken ct)
    {
        var type = http.Request.ContentType;
        if (type is null || !MediaTypeHeaderValue.TryParse(type, out var media) || !string.Equals(media.MediaType.Value, Pkcs10, StringComparison.OrdinalIgnoreCase))
        {
            throw new OpenCmException(new DomainError(ErrorKind.UnsupportedMediaType, $"The body must be {Pkcs10}: base64 of a DER PKCS#10 certificate request (RFC 7030 §4.2.1)."));
        }

        var max = http.RequestServices.GetRequiredService<EstOptions>().MaxRequestBytes;
        if (http.Request.ContentLength > max)
        {
            throw TooLarge(max);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > max)
            {
                throw TooLarge(max);
            }

            buffer.Write(chunk, 0, read);
        }

        return EstRequests.Decode(buffer.ToArray());
    }

    private static OpenCmException TooLarge(int max) =>
        new(new DomainError(ErrorKind.PayloadTooLarge, $"The body is larger than {max} bytes (Est:MaxRequestBytes)."));

    private static IResult? OnlyGet(HttpContext http, string operation) =>
        HttpMethods.IsGet(http.Request.Method) ? null : NotAllowed(http, operation, "GET", "§4.1.1, §4.5.1");

    private static IResult? OnlyPost(HttpContext http, string operation) =>
        HttpMethods.IsPost(http.Request.Method) ? null : NotAllowed(http, operation, "POST", "§4.2.1, §4.4.1");

    private static IResult NotAllowed(HttpContext http, string operation, string method, string section)
    {
        http.Response.Headers.Allow = method;
        return Results.Text($"{operation} answers {method} only (RFC 7030 {section}).\n", "text/plain", Encoding.UTF8, StatusCodes.Status405MethodNotAllowed);
    }

    /// <summary>A DER body the way EST sends it (§4.1.3, §4.2.3): base64 in lines of 76 (RFC 2045) with <c>Content-Transfer-Encoding: base64</c>.</summary>
    internal static IResult Base64(HttpContext http, byte[] der, string contentType, int status = StatusCodes.Status200OK)
    {
        http.Response.Headers["Content-Transfer-Encoding"] = "base64";
        return Results.Text(Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks) + "\r\n", contentType, null, status);
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

    // Without a label (§3.2.2's default CA): the one template that allows EST; with none or several, the client must name one.
    private static async Task<ProfileTemplate> DefaultTemplateAsync(ITemplateStore templates, CancellationToken ct)
    {
        var matches = (await templates.ListAsync(ct)).Where(t => t.Allows(EnrollmentProtocol.Est)).Take(2).ToList();
        return matches.Count == 1
            ? matches[0]
            : throw new OpenCmException(DomainError.NotFound("This server has no default EST template: add the label of a template that allows EST to the path (/.well-known/est/LABEL/...)."));
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
        if (status == StatusCodes.Status401Unauthorized)
        {
            // EST's ways in (RFC 7030 §3.2.3): Basic, and Negotiate where the server accepts it; never the API's Bearer.
            var realm = context.RequestServices.GetService<EstOptions>()?.Realm ?? "OpenCM EST";
            var basic = $"Basic realm=\"{realm.Replace("\\", "", StringComparison.Ordinal).Replace("\"", "", StringComparison.Ordinal)}\", charset=\"UTF-8\"";
            context.Response.Headers.WWWAuthenticate = context.RequestServices.GetService<Auth.NegotiateOptions>() is { Enabled: true }
                ? new Microsoft.Extensions.Primitives.StringValues([basic, "Negotiate"])
                : basic;
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        var bytes = System.Text.Encoding.UTF8.GetBytes(error.Detail + "\n");
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}
