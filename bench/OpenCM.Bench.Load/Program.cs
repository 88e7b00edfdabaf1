using System.Diagnostics;
using System.Globalization;
using OpenCM.Bench.Load;

// Load generator for a running OpenCM server (docs/benchmarks.md). In one run against one server
// it measures the authenticated no-op ceiling (GET /me), GET /requests/{id}, POST /requests and
// durable PUT /requests/{id} transitions of fresh Approved requests, plus an unauthenticated
// route for reference. Every scenario is warmed up first; each worker owns one keep-alive
// connection with one request in flight.
//
//   dotnet run -c Release --project bench/OpenCM.Bench.Load -- --server URL[,URL…] --token JWT
//        [--connections 64] [--seconds 10] [--warmup 5] [--puts 40000]

var options = Options.Parse(args);
// --server takes one address, or several separated by commas (nodes of one cluster): the
// connections are spread over them in turn.
var servers = options.Server.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => new Uri(s)).ToArray();
var server = servers[0];
if (args.Contains("--issuance"))
{
    // dotnet run -c Release --project bench/OpenCM.Bench.Load -- --issuance --server URL [--connections 16] [--seconds 10] [--puts 20000]
    return await Issuance.RunAsync(server, options.Token, options.Connections, options.Seconds, options.Puts);
}

if (args.Contains("--protocols"))
{
    // bench/protocols.sh runs it: the same template through certificatedata, EST and ACME (issue #24).
    return await Protocols.RunAsync(server, options.Token, args, options.Connections, options.Puts);
}

if (args.Contains("--cards"))
{
    // dotnet run -c Release --project bench/OpenCM.Bench.Load -- --cards --server URL [--connections 64] [--seconds 10] [--warmup 5]
    return await Cards.RunAsync(server, options.Token, options.Connections, options.Seconds, options.Warmup);
}

const string Api = "/CertificateManagement/api/v1.0";
const string CreateBody = """{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}""";

var connections = new RawHttpConnection[options.Connections];
for (var i = 0; i < connections.Length; i++)
{
    connections[i] = await RawHttpConnection.OpenAsync(servers[i % servers.Length], options.Token);
}

async Task<Guid> CreateAsync(RawHttpConnection c, byte[] request)
{
    var (status, body) = await c.SendAsync(request);
    return status == 201
        ? Guid.Parse(body.Trim('"').Split('/')[^1])
        : throw new InvalidOperationException($"create answered {status}: {body}");
}

var create = connections.Select(c => c.Build("POST", $"{Api}/requests", CreateBody)).ToArray();
var probe = await CreateAsync(connections[0], create[0]);
var me = connections.Select(c => c.Build("GET", $"{Api}/me")).ToArray();
var get = connections.Select(c => c.Build("GET", $"{Api}/requests/{probe}")).ToArray();
var health = connections.Select(c => c.Build("GET", "/health/live", authenticated: false)).ToArray();

Console.WriteLine($"server {options.Server}, {options.Connections} connections, {options.Seconds} s per timed scenario after {options.Warmup} s warm-up, {Environment.ProcessorCount} cores");
var results = new List<Result>();
foreach (var (name, requests) in new[] { ("GET /me (no-op ceiling)", me), ("GET /requests/{id}", get), ("POST /requests", create) })
{
    await Load.ForDurationAsync(null, connections, TimeSpan.FromSeconds(options.Warmup), (w, _) => connections[w].SendAsync(requests[w]));
    results.Add(await Load.ForDurationAsync(name, connections, TimeSpan.FromSeconds(options.Seconds), (w, _) => connections[w].SendAsync(requests[w])));
}

// Durable transitions: fresh Approved requests (made untimed), each cancelled exactly once.
Console.Write($"creating {options.Puts} Approved requests for the PUT scenario… ");
var fresh = new Guid[options.Puts];
await Load.ForCountAsync(null, connections, options.Puts, async (w, i) =>
{
    fresh[i] = await CreateAsync(connections[w], create[w]);
    return (201, "");
});
Console.WriteLine("done");
results.Add((await Load.ForCountAsync("PUT /requests/{id} Canceled (durable)", connections, options.Puts,
    (w, i) => connections[w].SendAsync(connections[w].Build("PUT", $"{Api}/requests/{fresh[i]}", """{"status":"Canceled"}"""))))!);

await Load.ForDurationAsync(null, connections, TimeSpan.FromSeconds(options.Warmup), (w, _) => connections[w].SendAsync(health[w]));
results.Add(await Load.ForDurationAsync("GET /health/live (no auth, no DB)", connections, TimeSpan.FromSeconds(options.Seconds), (w, _) => connections[w].SendAsync(health[w])));

Console.WriteLine();
Console.WriteLine("| scenario | requests | errors | req/s | p50 ms | p99 ms | vs ceiling |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
var ceiling = results[0].PerSecond;
foreach (var r in results)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Name} | {r.Count} | {r.Errors} | {r.PerSecond:F0} | {r.P50:F2} | {r.P99:F2} | {r.PerSecond / ceiling:P0} |"));
}

foreach (var c in connections)
{
    c.Dispose();
}

return results.Any(r => r.Errors > 0) ? 1 : 0;

internal sealed record Result(string Name, long Count, long Errors, double PerSecond, double P50, double P99);

internal static class Load
{
    /// <summary>Each worker sends on its own connection until the time is up.</summary>
    public static Task<Result> ForDurationAsync(string? name, RawHttpConnection[] connections, TimeSpan duration, Func<int, int, Task<(int Status, string Body)>> send)
    {
        var clock = Stopwatch.StartNew();
        var counter = -1;
        return RunAsync(name, connections.Length, clock, () => clock.Elapsed < duration ? Interlocked.Increment(ref counter) : -1, send);
    }

    /// <summary>Workers share <paramref name="count"/> numbered operations.</summary>
    public static Task<Result> ForCountAsync(string? name, RawHttpConnection[] connections, int count, Func<int, int, Task<(int Status, string Body)>> send)
    {
        var next = -1;
        return RunAsync(name, connections.Length, Stopwatch.StartNew(), () => Interlocked.Increment(ref next) is var i && i < count ? i : -1, send);
    }

    private static async Task<Result> RunAsync(string? name, int workers, Stopwatch clock, Func<int> take, Func<int, int, Task<(int Status, string Body)>> send)
    {
        var latencies = new List<long>[workers];
        long errors = 0;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<long>(1 << 16);
            int i;
            while ((i = take()) >= 0)
            {
                var start = Stopwatch.GetTimestamp();
                var (status, _) = await send(w, i);
                mine.Add(Stopwatch.GetTimestamp() - start);
                if (status >= 400)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        var elapsed = clock.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Ms(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))] * 1000.0 / Stopwatch.Frequency;
        var result = new Result(name ?? "warm-up", all.Length, errors, all.Length / elapsed.TotalSeconds, Ms(0.50), Ms(0.99));
        if (name is not null)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {result.PerSecond:F0}/s p50 {result.P50:F2} ms p99 {result.P99:F2} ms errors {errors}"));
        }

        return result;
    }
}

internal sealed record Options(string Server, string Token, int Connections, int Seconds, int Warmup, int Puts)
{
    public static Options Parse(string[] args)
    {
        string Get(string name, string? fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required (or set OPENCM_TOKEN)");
        }

        int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        return new Options(
            Get("--server", "http://127.0.0.1:5000"),
            Get("--token", Environment.GetEnvironmentVariable("OPENCM_TOKEN")),
            Int("--connections", 64), Int("--seconds", 10), Int("--warmup", 5), Int("--puts", 40000));
    }
}
