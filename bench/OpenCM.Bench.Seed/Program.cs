using System.Globalization;
using OpenCM.Bench.Seed;

// Seeds a data directory with N requests through the storage's own write path (issue #25, the
// scale goal; bench/scale.sh runs it). Prints rows/s as it goes and a summary at the end.
//
//   dotnet run -c Release --project bench/OpenCM.Bench.Seed -- --data DIR --count N [--init]
//        [--batch 10000] [--users 200] [--ids DIR] [--id-files 2] [--get-sample 100000]
string? Value(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

long Number(string name, long fallback) => Value(name) is { } v ? long.Parse(v.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture) : fallback;

if (Value("--data") is not { } data || Value("--count") is null)
{
    await Console.Error.WriteLineAsync("usage: OpenCM.Bench.Seed --data DIR --count N [--init] [--batch 10000] [--users 200] [--ids DIR] [--id-files 2] [--get-sample 100000]");
    return 2;
}

var options = new SeedOptions(data, Number("--count", 0))
{
    Initialize = args.Contains("--init"),
    Batch = (int)Number("--batch", 10_000),
    Users = (int)Number("--users", 200),
    IdsDirectory = Value("--ids"),
    IdFiles = (int)Number("--id-files", 2),
    GetSample = (int)Number("--get-sample", 100_000),
};
var result = await Seeder.RunAsync(options, Console.Out);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"seeded {result.Requests:N0} requests and {result.AuditEvents:N0} audit events in {result.Elapsed.TotalSeconds:F1} s: {result.RequestsPerSecond:N0} requests/s"));
Console.WriteLine("by status: " + string.Join(", ", result.ByStatus.Where(s => s.Value > 0).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} {s.Value:N0}"))));
return 0;
