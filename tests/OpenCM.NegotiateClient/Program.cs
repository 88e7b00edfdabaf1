using System.Net;
using System.Net.Security;

// The .NET side of the Kerberos tests (issue #19: "clients are the real kinit + curl --negotiate,
// .NET HttpClient with Negotiate credentials"). The ticket comes from the ccache that KRB5CCNAME
// names in this process's environment, set by the test that starts it.
//
//   get URL      HttpClient (SocketsHttpHandler, DefaultCredentials): prints the status code on
//                the first line and the body after it.
//   token SPN    one first-leg SPNEGO token for SPN (e.g. HTTP/localhost), in base64, as a
//                browser would put it in "Authorization: Negotiate ...".
if (args is ["get", var url])
{
    using var handler = new SocketsHttpHandler { Credentials = CredentialCache.DefaultCredentials, PreAuthenticate = false };
    using var client = new HttpClient(handler);
    using var response = await client.GetAsync(new Uri(url)).ConfigureAwait(false);
    Console.WriteLine((int)response.StatusCode);
    Console.WriteLine(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
    return 0;
}

if (args is ["token", var spn])
{
    using var negotiate = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
    {
        Package = "Negotiate",
        TargetName = spn,
        Credential = CredentialCache.DefaultNetworkCredentials,
    });
    var blob = negotiate.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out var status);
    if (blob is null || status is not (NegotiateAuthenticationStatusCode.ContinueNeeded or NegotiateAuthenticationStatusCode.Completed))
    {
        await Console.Error.WriteLineAsync($"No token: {status}").ConfigureAwait(false);
        return 1;
    }

    Console.WriteLine(Convert.ToBase64String(blob));
    return 0;
}

await Console.Error.WriteLineAsync("usage: OpenCM.NegotiateClient get URL | token SPN").ConfigureAwait(false);
return 2;
