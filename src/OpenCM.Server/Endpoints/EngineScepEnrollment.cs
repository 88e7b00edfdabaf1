using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>SCEP's way into the device enrollment engine (issue #24.1): the challenge's or certificate's user as the caller, the CSR's own names, the transaction as the client reference.</summary>
internal sealed class EngineScepEnrollment : IScepEnrollment
{
    private readonly DeviceEnrollment _engine;
    private readonly DirectoryCallers _callers;

    public EngineScepEnrollment(DeviceEnrollment engine, DirectoryCallers callers)
    {
        _engine = engine;
        _callers = callers;
    }

    public Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct) => _callers.ForUserAsync(userUuid, ct);

    public Task<DeviceOutcome> SubmitAsync(Caller caller, Guid templateUuid, byte[] certificateRequest, string transactionId, string comment, string correlationId, CancellationToken ct) =>
        _engine.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Scep, templateUuid, Convert.ToBase64String(certificateRequest),
            DeviceNames.OfCertificateRequest(certificateRequest), transactionId, comment), correlationId, ct);

    public async Task<DeviceOutcome?> PollAsync(Caller caller, string transactionId, string correlationId, CancellationToken ct) =>
        await _engine.FindAsync(caller, EnrollmentProtocol.Scep, transactionId, ct).ConfigureAwait(false) is { } request
            ? await _engine.ResumeAsync(caller, request, correlationId, ct).ConfigureAwait(false)
            : null;
}
