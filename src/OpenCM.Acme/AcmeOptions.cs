using Microsoft.Extensions.Configuration;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>
/// The ACME front-end's limits (configuration section <c>Acme</c>; docs/configuration.md). The
/// challenge validator's <c>Acme:Http01Port</c> and <c>Acme:Dns01Resolver</c> are its own.
/// </summary>
public sealed record AcmeOptions
{
    /// <summary>The configuration section (docs/configuration.md).</summary>
    public const string Section = "Acme";

    /// <summary>The largest JWS body accepted (<c>Acme:MaxBodyBytes</c>, default 64 KiB): a larger one is refused (413) before it is parsed.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>How long a new order and its authorizations stay usable (<c>Acme:OrderLifetime</c>, default 7 days).</summary>
    public TimeSpan OrderLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How long a nonce handed out stays usable (<c>Acme:NonceLifetime</c>, default 1 hour).</summary>
    public TimeSpan NonceLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The Retry-After of an order waiting for approvals (<c>Acme:RetryAfterSeconds</c>, default 10).</summary>
    public int RetryAfterSeconds { get; init; } = 10;

    public static AcmeOptions From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.GetSection(Section).Get<AcmeOptions>() ?? new AcmeOptions();
        if (options.MaxBodyBytes is < 1024 or > 1024 * 1024 || options.OrderLifetime <= TimeSpan.Zero || options.NonceLifetime <= TimeSpan.Zero || options.RetryAfterSeconds is < 1 or > 86400)
        {
            throw new OpenCmException(DomainError.Validation("Acme",
                "Acme:MaxBodyBytes is 1024 to 1048576, Acme:OrderLifetime and Acme:NonceLifetime are positive, Acme:RetryAfterSeconds is 1 to 86400."));
        }

        return options;
    }
}

/// <summary>
/// What ACME needs of the device enrollment engine (issue #24.1): a seam so the protocol is tested
/// with a hand-written fake, and the one place the front-end meets <c>DeviceEnrollment</c> and
/// <c>DirectoryCallers</c> (<see cref="EngineAcmeIssuer"/>).
/// </summary>
public interface IAcmeIssuer
{
    /// <summary>The caller an account acts as: its EAB key's directory user; null when that is no user (any more).</summary>
    Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct);

    Task<DeviceOutcome> SubmitAsync(Caller caller, DeviceEnrollmentInput input, string correlationId, CancellationToken ct);

    Task<DeviceOutcome> ResumeAsync(Caller caller, Guid requestId, string correlationId, CancellationToken ct);

    Task<Guid?> FindAsync(Caller caller, string clientReference, CancellationToken ct);
}

/// <summary>The ACME front-end over the device enrollment engine (issue #24.1): an account's principal through <see cref="DirectoryCallers"/>, its orders through <see cref="DeviceEnrollment"/>.</summary>
public sealed class EngineAcmeIssuer : IAcmeIssuer
{
    private readonly DeviceEnrollment _enrollment;
    private readonly DirectoryCallers _callers;

    public EngineAcmeIssuer(DeviceEnrollment enrollment, DirectoryCallers callers) => (_enrollment, _callers) = (enrollment, callers);

    public Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct) => _callers.ForUserAsync(userUuid, ct);

    public Task<DeviceOutcome> SubmitAsync(Caller caller, DeviceEnrollmentInput input, string correlationId, CancellationToken ct) =>
        _enrollment.SubmitAsync(caller, input, correlationId, ct);

    public Task<DeviceOutcome> ResumeAsync(Caller caller, Guid requestId, string correlationId, CancellationToken ct) =>
        _enrollment.ResumeAsync(caller, requestId, correlationId, ct);

    public Task<Guid?> FindAsync(Caller caller, string clientReference, CancellationToken ct) =>
        _enrollment.FindAsync(caller, EnrollmentProtocol.Acme, clientReference, ct);
}
