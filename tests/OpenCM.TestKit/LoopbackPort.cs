using System.Net;
using System.Net.Sockets;

namespace OpenCM.TestKit;

/// <summary>Ports on 127.0.0.1 for servers a test starts.</summary>
public static class LoopbackPort
{
    /// <summary>
    /// A port the kernel had free a moment ago. It stays free only until something else binds
    /// port 0, so a caller that hands it to another process retries on "address already in use"
    /// where that matters (ServerProcess does).
    /// </summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
