using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace OpenCM.Server.Hosting;

/// <summary>Reverse proxies OpenCM trusts (configuration section <c>Proxies</c>).</summary>
public sealed class ProxyOptions
{
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
        var known = app.Configuration.GetSection("Proxies").Get<ProxyOptions>()?.Known ?? [];
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
            if (entry.Contains('/', StringComparison.Ordinal))
            {
                options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(entry));
            }
            else
            {
                options.KnownProxies.Add(IPAddress.Parse(entry));
            }
        }

        app.UseForwardedHeaders(options);
        return app;
    }
}
