using System.Collections.Concurrent;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application.Telemetry;

/// <summary>
/// Counts what units of work COMMITTED (issue #21.1): it sees the request and certificate writes
/// as the use cases make them, keeps what held (a compare-and-set that lost is not kept), and
/// records it only once the unit of work returned, its writes durable. A unit that throws, a later
/// compare-and-set that lost among them, records nothing. One seam instead of a line in every use
/// case; the use cases do not know it is there.
/// </summary>
public sealed class MeteredTransactions : ITransactions
{
    // Reservations waiting for their certificate: the template name is on the reservation, the
    // certificate comes in a later unit of work. Bounded: serials that were never signed (a
    // failed execution) must not grow it without end.
    private const int MaxPendingReservations = 10_000;

    private readonly ITransactions _inner;
    private readonly OpenCmMetrics _metrics;
    private readonly IRequestStore _requests;
    private readonly TimeProvider _clock;
    private readonly Func<int, string> _caName;
    private readonly ConcurrentDictionary<string, string> _reserved = new(StringComparer.Ordinal);

    /// <param name="caName">The name (slug) of the CA with a stored id, for the <c>ca</c> label.</param>
    public MeteredTransactions(ITransactions inner, OpenCmMetrics metrics, IRequestStore requests, TimeProvider clock, Func<int, string> caName)
    {
        _inner = inner;
        _metrics = metrics;
        _requests = requests;
        _clock = clock;
        _caName = caName;
    }

    public async Task<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);

        // A provider may run the work again (a retried transaction): each run starts with nothing seen.
        Seen? seen = null;
        var result = await _inner.RunAsync((uow, c) =>
        {
            seen = new Seen();
            return work(new MeteredUnitOfWork(uow, seen), c);
        }, ct).ConfigureAwait(false);

        // Returned: committed. Metrics never fail a committed change.
        if (seen is { IsEmpty: false } committed)
        {
            try
            {
                await RecordAsync(committed).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A metric lost is better than a committed change reported as failed.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        return result;
    }

    private async Task RecordAsync(Seen seen)
    {
        foreach (var type in seen.Created)
        {
            _metrics.RequestCreated(type);
        }

        foreach (var (serial, template) in seen.Reserved)
        {
            if (_reserved.Count >= MaxPendingReservations)
            {
                _reserved.Clear();
            }

            _reserved[serial] = template;
        }

        foreach (var (serial, authority) in seen.Issued)
        {
            _metrics.CertificateIssued(_reserved.TryRemove(serial, out var template) ? template : "unknown", authority == 0 ? "unknown" : _caName(authority));
        }

        foreach (var move in seen.Moves)
        {
            _metrics.Transition(move.From, move.To);
        }

        // Latency and age need the submission time: one read by key, after the commit, only for
        // an approval or a final status (the last of several moves in one unit stands for the request).
        foreach (var move in seen.Moves.GroupBy(m => m.Id).Select(g => g.Last()))
        {
            var approved = seen.Moves.Any(m => m.Id == move.Id && m.From == RequestStatus.Pending && m.To == RequestStatus.Approved);
            if (!approved && !move.To.IsTerminal())
            {
                continue;
            }

            if (await _requests.FindAsync(move.Id).ConfigureAwait(false) is not { } request)
            {
                continue;
            }

            var now = _clock.GetUtcNow();
            if (approved)
            {
                _metrics.Approved(now - request.Submitted);
            }

            if (move.To.IsTerminal())
            {
                _metrics.Ended(move.To, (move.Completed ?? now) - request.Submitted);
            }
        }
    }

    // What one run of a unit of work wrote that counts, in order.
    private sealed class Seen
    {
        public List<RequestType> Created { get; } = [];

        public List<RequestTransition> Moves { get; } = [];

        public List<(string Serial, string Template)> Reserved { get; } = [];

        public List<(string Serial, int Authority)> Issued { get; } = [];

        public bool IsEmpty => Created.Count == 0 && Moves.Count == 0 && Reserved.Count == 0 && Issued.Count == 0;
    }

    private sealed class MeteredUnitOfWork : IUnitOfWork
    {
        private readonly IUnitOfWork _inner;

        public MeteredUnitOfWork(IUnitOfWork inner, Seen seen)
        {
            _inner = inner;
            Requests = new Writes(inner.Requests, seen);
            Certificates = new CertificateWrites(inner.Certificates, seen);
        }

        public IRequestWrites Requests { get; }

        public ICertificateWrites Certificates { get; }

        public IProfileWrites Profiles => _inner.Profiles;

        public ICardWrites Cards => _inner.Cards;

        public IAuditWrites Audit => _inner.Audit;

        public ITemplateWrites Templates => _inner.Templates;

        public IDirectoryWrites Directory => _inner.Directory;

        public ICaNoticeWrites Notices => _inner.Notices;

        public IAuthorityWrites Authorities => _inner.Authorities;

        public IEventWrites Events => _inner.Events;

        public IDeviceSubmissionWrites DeviceSubmissions => _inner.DeviceSubmissions;
    }

    private sealed class Writes(IRequestWrites inner, Seen seen) : IRequestWrites
    {
        public async Task InsertAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(request);
            await inner.InsertAsync(request, readerSids, ct).ConfigureAwait(false);
            seen.Created.Add(request.RequestType);
        }

        public async Task<bool> TryTransitionAsync(RequestTransition transition, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(transition);
            var moved = await inner.TryTransitionAsync(transition, ct).ConfigureAwait(false);

            // A recorded vote keeps the status: not a transition.
            if (moved && transition.From != transition.To)
            {
                seen.Moves.Add(transition);
            }

            return moved;
        }

        public Task<int> CountByOriginatorAsync(Guid originator, Guid template, RequestStatus status, CancellationToken ct) =>
            inner.CountByOriginatorAsync(originator, template, status, ct);
    }

    private sealed class CertificateWrites(ICertificateWrites inner, Seen seen) : ICertificateWrites
    {
        public async Task ReserveAsync(CertificateReservation reservation, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(reservation);
            await inner.ReserveAsync(reservation, ct).ConfigureAwait(false);
            seen.Reserved.Add((reservation.SerialHex.ToUpperInvariant(), reservation.Template));
        }

        public async Task<bool> RecordIssuedAsync(IssuedCertificate certificate, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(certificate);
            var stored = await inner.RecordIssuedAsync(certificate, ct).ConfigureAwait(false);
            if (stored)
            {
                seen.Issued.Add((certificate.SerialHex.ToUpperInvariant(), certificate.AuthorityId));
            }

            return stored;
        }

        public Task ArchiveKeyAsync(ArchivedKey key, CancellationToken ct) => inner.ArchiveKeyAsync(key, ct);

        public Task<int> MoveAllAsync(Guid profile, CertificateStatus from, CertificateStatus to, CancellationToken ct) => inner.MoveAllAsync(profile, from, to, ct);

        public Task<IReadOnlyList<string>> RevokeAllAsync(Guid profile, int reason, DateTimeOffset at, CancellationToken ct) => inner.RevokeAllAsync(profile, reason, at, ct);

        public Task<IReadOnlyList<string>> ReleaseAsync(Guid profile, int reason, CertificateStatus to, CancellationToken ct) => inner.ReleaseAsync(profile, reason, to, ct);
    }
}
