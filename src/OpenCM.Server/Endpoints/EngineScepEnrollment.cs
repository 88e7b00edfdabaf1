using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>SCEP's way into the device enrollment engine. TODO(#24): the engine lands on main; until then every enrollment is refused as unavailable.</summary>
internal sealed class EngineScepEnrollment : IScepEnrollment
{
    public Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct) => throw NotYet();

    public Task<DeviceOutcome> SubmitAsync(Caller caller, Guid templateUuid, byte[] certificateRequest, string transactionId, string comment, string correlationId, CancellationToken ct) => throw NotYet();

    public Task<DeviceOutcome?> PollAsync(Caller caller, string transactionId, string correlationId, CancellationToken ct) => throw NotYet();

    private static OpenCmException NotYet() => new(new DomainError(ErrorKind.Unavailable, "SCEP enrollment is not available on this server yet."));
}
