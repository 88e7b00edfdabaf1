using OpenCM.Authority;
using OpenCM.Contracts;
using OpenCM.Domain;
using SharpFuzz;

// Fuzz targets (issue #7.2) for SharpFuzz: every input must end in a value or an OpenCmException
// (a 400 on the wire); anything else is a finding. AFL++ (Debian's afl++) by default, libFuzzer
// with --libfuzzer, one input from standard input with --stdin. See fuzz/README.md.
var target = args.FirstOrDefault() ?? "body";
Action<ReadOnlySpan<byte>> run = target switch
{
    "body" => Body,
    "csr" => Csr,
    _ => throw new ArgumentException($"unknown target '{target}': body or csr"),
};

if (args.Contains("--stdin"))
{
    using var input = new MemoryStream();
    Console.OpenStandardInput().CopyTo(input);
    run(input.ToArray());
    return;
}

if (args.Contains("--libfuzzer"))
{
    Fuzzer.LibFuzzer.Run(span => run(span));
    return;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var input = new MemoryStream();
    stream.CopyTo(input);
    run(input.ToArray());
});

// The body reader of every JSON route, for each of its contracts.
static void Body(ReadOnlySpan<byte> data)
{
    Expect(data, static d => WireJson.ReadBody<CreateRequestBody>(d));
    Expect(data, static d => WireJson.ReadBody<SetStatusBody>(d));
    Expect(data, static d => WireJson.ReadBody<ApprovalBody>(d));
    Expect(data, static d => WireJson.ReadBody<CertificateDataBody>(d));
}

// The CSR checks, on the input as base64 text and as DER, against an RSA and a P-256 template.
static void Csr(ReadOnlySpan<byte> data)
{
    var text = System.Text.Encoding.UTF8.GetString(data);
    var der = Convert.ToBase64String(data);
    foreach (var template in Templates)
    {
        Expect(text, t => IssuancePipeline.Check(t, template, "certificaterequests[0]"));
        Expect(der, t => IssuancePipeline.Check(t, template, "certificaterequests[0]"));
    }
}

static void Expect<TIn>(TIn input, Func<TIn, object> read)
    where TIn : allows ref struct
{
    try
    {
        _ = read(input);
    }
    catch (OpenCmException)
    {
        // A refusal the client hears as 400: the expected outcome for most inputs.
    }
}

internal static partial class Program
{
    private static readonly CertificateTemplate[] Templates =
    [
        new() { CommonName = "Rsa", KeyAlgorithm = KeyAlgorithm.Rsa, KeySize = 2048 },
        new() { CommonName = "P256", KeyAlgorithm = KeyAlgorithm.EcdsaP256 },
    ];
}
