using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

// Load generator for a running OpenCM server (docs/benchmarks.md). It measures, in one run and
// against one server: the authenticated no-op ceiling (GET /me), GET /requests/{id},
// POST /requests, and durable PUT /requests/{id} transitions of fresh Approved requests.
//
//   dotnet run -c Release --project bench/OpenCM.Bench.Load -- --server URL --token JWT
//        [--connections 64] [--seconds 10] [--warmup 5] [--puts 20000]

var options = Options.Parse(args);
using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
using var http = new HttpClient(handler) { BaseAddress = new Uri(options.Server), Timeout = TimeSpan.FromSeconds(30) };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
const string Api = "/CertificateManagement/api/v1.0";
const string CreateBody = """{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}""";

async Task<Guid> CreateAsync()
{
    using var response = await http.PostAsync($"{Api}/requests", new StringContent(CreateBody, Encoding.UTF8, "application/json"));
    if (response.StatusCode != HttpStatusCode.Created)
    {
        throw new InvalidOperationException($"create answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    return Guid.Parse((await response.Content.ReadAsStringAsync()).Trim('"').Split('/')[^1]);
}

Console.WriteLine($"server {options.Server}, {options.Connections} connections, {options.Seconds} s per timed scenario after {options.Warmup} s warm-up, {Environment.ProcessorCount} cores");
var probe = await CreateAsync();
var results = new List<Result>();

// Warm-up: JIT and connection pools on every path before anything is timed.
await Load.ForDurationAsync("warm-up", options.Connections, TimeSpan.FromSeconds(options.Warmup), async i =>
    (i % 3) switch
    {
        0 => await http.GetAsync($"{Api}/me"),
        1 => await http.GetAsync($"{Api}/requests/{probe}"),
        _ => await http.PostAsync($"{Api}/requests", new StringContent(CreateBody, Encoding.UTF8, "application/json")),
    });

results.Add(await Load.ForDurationAsync("GET /me (no-op ceiling)", options.Connections, TimeSpan.FromSeconds(options.Seconds),
    _ => http.GetAsync($"{Api}/me")));
results.Add(await Load.ForDurationAsync("GET /requests/{id}", options.Connections, TimeSpan.FromSeconds(options.Seconds),
    _ => http.GetAsync($"{Api}/requests/{probe}")));
results.Add(await Load.ForDurationAsync("POST /requests", options.Connections, TimeSpan.FromSeconds(options.Seconds),
    _ => http.PostAsync($"{Api}/requests", new StringContent(CreateBody, Encoding.UTF8, "application/json"))));

// Informational floor: the same server without authentication, to show what token checks cost.
var unauthenticated = await Load.ForDurationAsync("GET /health/live (no auth, no DB)", options.Connections, TimeSpan.FromSeconds(options.Seconds),
    _ => http.GetAsync("/health/live"));

// Durable transitions: fresh Approved requests (made untimed), each cancelled exactly once.
Console.Write($"creating {options.Puts} Approved requests for the PUT scenario… ");
var fresh = new Guid[options.Puts];
await Load.ForCountAsync(options.Connections, options.Puts, async i => fresh[i] = await CreateAsync());
Console.WriteLine("done");
results.Add(await Load.ForCountTimedAsync("PUT /requests/{id} Canceled (durable)", options.Connections, options.Puts,
    i => http.PutAsync($"{Api}/requests/{fresh[i]}", new StringContent("""{"status":"Canceled"}""", Encoding.UTF8, "application/json"))));

results.Add(unauthenticated);
Console.WriteLine();
Console.WriteLine("| scenario | requests | errors | req/s | p50 ms | p99 ms | vs ceiling |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
var ceiling = results[0].PerSecond;
foreach (var r in results)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Name} | {r.Count} | {r.Errors} | {r.PerSecond:F0} | {r.P50:F2} | {r.P99:F2} | {r.PerSecond / ceiling:P0} |"));
}

return results.Any(r => r.Errors > 0) ? 1 : 0;

internal sealed record Result(string Name, long Count, long Errors, double PerSecond, double P50, double P99);

internal static class Load
{
    // Each worker keeps its own latencies; they are merged once at the end.
    public static async Task<Result> ForDurationAsync(string name, int workers, TimeSpan duration, Func<int, Task<HttpResponseMessage>> send)
    {
        var latencies = new List<long>[workers];
        long errors = 0;
        var clock = Stopwatch.StartNew();
        var end = duration;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<long>(1 << 16);
            for (var i = w; clock.Elapsed < end; i += workers)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await send(i);
                await response.Content.LoadIntoBufferAsync();
                mine.Add(Stopwatch.GetTimestamp() - start);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        return Summarize(name, latencies, errors, clock.Elapsed);
    }

    public static Task ForCountAsync(int workers, int count, Func<int, Task> work)
    {
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await work(i);
            }
        })));
    }

    public static async Task<Result> ForCountTimedAsync(string name, int workers, int count, Func<int, Task<HttpResponseMessage>> send)
    {
        var latencies = new List<long>[workers];
        long errors = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<long>(count / workers + 1);
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await send(i);
                await response.Content.LoadIntoBufferAsync();
                mine.Add(Stopwatch.GetTimestamp() - start);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        return Summarize(name, latencies, errors, clock.Elapsed);
    }

    private static Result Summarize(string name, List<long>[] latencies, long errors, TimeSpan elapsed)
    {
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Ms(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))] * 1000.0 / Stopwatch.Frequency;
        var result = new Result(name, all.Length, errors, all.Length / elapsed.TotalSeconds, Ms(0.50), Ms(0.99));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {result.PerSecond:F0}/s p50 {result.P50:F2} ms p99 {result.P99:F2} ms errors {errors}"));
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
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required");
        }

        int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        return new Options(
            Get("--server", "http://127.0.0.1:5000"),
            Get("--token", Environment.GetEnvironmentVariable("OPENCM_TOKEN")),
            Int("--connections", 64), Int("--seconds", 10), Int("--warmup", 5), Int("--puts", 20000));
    }
}
