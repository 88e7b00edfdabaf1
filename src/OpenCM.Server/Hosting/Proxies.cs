using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace OpenCM.Server.Hosting;

/// <summary>Reverse proxies OpenCM trusts (configuration section <c>Proxies</c>).</summary>
public sealed class ProxyOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Proxies";

    /// <summary>
    /// Addresses of the reverse proxies (load balancers) in front of the nodes. Only their
    /// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed: then the client's address
    /// keys the sign-in limit and HTTPS makes cookies Secure and turns HSTS on. Empty: no header is believed.
    /// </summary>
    public List<string> Known { get; set; } = [];
}

/// <summary>Forwarded headers from the configured proxies only (a client cannot claim another address).</summary>
internal static class Proxies
{
    public static WebApplication UseOpenCmProxies(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var known = Known(app.Configuration);
        if (known.Count == 0)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardLimit = 1,
        };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in known)
        {
            if (entry.Contains('/', StringComparison.Ordinal) && System.Net.IPNetwork.TryParse(entry, out var network))
            {
                options.KnownIPNetworks.Add(network);
            }
            else if (!entry.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(entry, out var address))
            {
                options.KnownProxies.Add(address);
            }
            else
            {
                throw new InvalidOperationException($"Proxies:Known: '{entry}' is neither an IP address nor a network (address/prefix).");
            }
        }

        app.UseForwardedHeaders(options);
        return app;
    }

    /// <summary>
    /// The proxies configured, however given (issue #18.8): a list (<c>Proxies:Known:0</c>, JSON
    /// arrays), one value (<c>--Proxies:Known=10.0.0.1</c>, <c>Proxies__Known=…</c>, which the
    /// binder silently read as an empty list), or several separated by commas.
    /// </summary>
    public static IReadOnlyList<string> Known(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection("Proxies:Known");
        IEnumerable<string?> values = section.Value is { } one ? [one] : section.GetChildren().Select(c => c.Value);
        return [.. values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
    }
}
