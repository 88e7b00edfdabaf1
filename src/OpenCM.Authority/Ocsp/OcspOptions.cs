namespace OpenCM.Authority.Ocsp;

/// <summary>Settings of the OCSP responder (configuration section <c>Ca:Ocsp</c>; docs/production-ca.md).</summary>
public sealed class OcspOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Ca:Ocsp";

    /// <summary>
    /// How long an answer is valid (its nextUpdate after thisUpdate), in minutes: a day by default,
    /// as the CRL (Ca:CrlValidityHours), so that neither publication says more than the other.
    /// </summary>
    public int ValidityMinutes { get; set; } = 24 * 60;

    /// <summary>
    /// Whether responses are signed by a responder certificate the CA issues to OpenCM (true) or by
    /// the CA key itself. Delegated by default: the CA key then signs once per responder renewal,
    /// not once per response, which is what an HSM-held CA key (slow, audited, perhaps rate-limited)
    /// needs under a flood of OCSP requests, and what RFC 6960 §4.2.2.2 provides for.
    /// </summary>
    public bool Delegated { get; set; } = true;

    /// <summary>How long a delegated responder certificate is valid, in days; it is renewed when half of it has passed.</summary>
    public int ResponderValidityDays { get; set; } = 7;

    /// <summary>The most CertIDs one OCSPRequest may ask about (RFC 5019 clients ask one).</summary>
    public int MaxRequests { get; set; } = 16;

    /// <summary>The largest OCSPRequest accepted, in bytes (a POST body, or a GET's decoded path).</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>The most (issuer, serial) statuses kept in memory; past it the cache starts over.</summary>
    public int CacheEntries { get; set; } = 100_000;
}
