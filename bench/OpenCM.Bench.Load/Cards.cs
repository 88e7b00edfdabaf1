using System.Globalization;

namespace OpenCM.Bench.Load;

/// <summary>
/// The card key routes a card client calls while it personalizes or unblocks a card (walkthrough
/// steps 18-22): the diversified admin key and the admin challenge response, each derived per
/// call (SP 800-108 KDF, 3DES) and audited durably, against the authenticated no-op ceiling
/// (GET /me), in one run. One card bound per connection, to its own executing request.
/// </summary>
internal static class Cards
{
    private const string Api = "/CertificateManagement/api/v1.0";
    private const string VirtualSmartcardVpn = "97cd65fa-af4b-4587-9309-0dd6bfd8b4e1";

    // dotnet run -c Release --project bench/OpenCM.Bench.Load -- --cards --server URL [--connections 64] [--seconds 10] [--warmup 5]
    public static async Task<int> RunAsync(Uri server, string token, int connections, int seconds, int warmup)
    {
        var conns = new RawHttpConnection[connections];
        var keyRoutes = new byte[connections][];
        var responseRoutes = new byte[connections][];
        var me = new byte[connections][];
        for (var i = 0; i < conns.Length; i++)
        {
            // Untimed: a request and a card bound to it, per connection.
            var c = conns[i] = await RawHttpConnection.OpenAsync(server, token);
            var (status, body) = await c.SendAsync(c.Build("POST", $"{Api}/requests", $$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{VirtualSmartcardVpn}}","comment":""}"""));
            var request = status == 201 ? body.Trim('"').Split('/')[^1] : throw new InvalidOperationException($"create answered {status}: {body}");
            var cardId = Guid.NewGuid().ToString();
            (status, body) = await c.SendAsync(c.Build("POST", $"{Api}/smartcards", $$"""{"requestid":"{{request}}","cardid":"{{cardId}}","atr":"3B8D0180FBA000000397425446590301C8"}"""));
            var card = status == 201 ? body.Trim('"').Split('/')[^1] : throw new InvalidOperationException($"assign answered {status}: {body}");
            keyRoutes[i] = c.Build("GET", $"{Api}/requests/{request}/smartcards/{card}/diversifiedkey?cardid={cardId}");
            responseRoutes[i] = c.Build("GET", $"{Api}/requests/{request}/smartcards/{card}/authenticationresponse?cardid={cardId}&challenge=1hFD%2Bcz%2F0so%3D&diversified=true");
            me[i] = c.Build("GET", $"{Api}/me");
        }

        Console.WriteLine($"cards: {connections} connections, one bound card each, {seconds} s per timed scenario after {warmup} s warm-up, {Environment.ProcessorCount} cores");
        var results = new List<global::Result>();
        foreach (var (name, requests) in new[]
        {
            ("GET /me (no-op ceiling)", me),
            ("GET …/diversifiedkey (KDF, audited)", keyRoutes),
            ("GET …/authenticationresponse diversified (KDF + 3DES, audited)", responseRoutes),
        })
        {
            await global::Load.ForDurationAsync(null, conns, TimeSpan.FromSeconds(warmup), (w, _) => conns[w].SendAsync(requests[w]));
            results.Add(await global::Load.ForDurationAsync(name, conns, TimeSpan.FromSeconds(seconds), (w, _) => conns[w].SendAsync(requests[w])));
        }

        Console.WriteLine();
        Console.WriteLine("| scenario | req/s | p50 ms | p99 ms | errors | vs ceiling |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.PerSecond:F0} | {r.P50:F2} | {r.P99:F2} | {r.Errors} | {r.PerSecond / results[0].PerSecond:P0} |"));
        }

        foreach (var c in conns)
        {
            c.Dispose();
        }

        return results.Any(r => r.Errors > 0) ? 1 : 0;
    }
}
