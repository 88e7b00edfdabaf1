using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// What a committed move revoked (or, with reason removeFromCRL, released from hold), for the CA
/// to publish: each revocation is queued in the CA notices outbox in the same unit of work
/// (<see cref="Notices"/>), and delivered after the commit (<see cref="CaNoticeDelivery"/>).
/// </summary>
public sealed record AppliedEffects(IReadOnlyList<CaNotice> Notices)
{
    public static readonly AppliedEffects None = new([]);

    public IEnumerable<Revocation> Revocations => Notices.Select(n => n.Revocation);
}

/// <summary>
/// The one path from a decided move to storage (SPEC §4), used by request transitions, votes,
/// server-side execution and enrollment alike: the request's compare-and-set, the effects the
/// domain planned (<see cref="ExecutionEffects"/>), and the audit event, inside the caller's unit
/// of work. Storage sees only narrow operations; every rule was applied before it is called.
/// </summary>
public static class TransitionWriter
{
    /// <summary>
    /// Applies a move. False, with nothing written, when the request moved meanwhile; when an
    /// effect's own compare-and-set loses after the request moved, the whole unit of work is
    /// abandoned (<see cref="TransactionsExtensions.TryRunAsync"/> turns that into false).
    /// </summary>
    public static async Task<AppliedEffects?> TryApplyAsync(IUnitOfWork uow, RequestTransition move, IReadOnlyList<Effect> effects, AuditEvent audit, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(uow);
        ArgumentNullException.ThrowIfNull(effects);

        // 1. Compare-and-set on the request: zero rows means another writer moved it first.
        if (!await uow.Requests.TryTransitionAsync(move, ct).ConfigureAwait(false))
        {
            return null;
        }

        // 2. The effects, each by its own guard.
        var revocations = new List<Revocation>();
        foreach (var effect in effects)
        {
            await ApplyAsync(uow, effect, revocations, audit.Time, ct).ConfigureAwait(false);
        }

        // 3. What the CA must hear of, queued in the same transaction: it reaches the CA after the
        //    commit even if the CA is down then, or this process ends before telling it.
        var notices = new List<CaNotice>(revocations.Count);
        foreach (var revocation in revocations)
        {
            var id = await uow.Notices.EnqueueAsync(revocation, revocation.At + CaNoticeDelivery.FirstRetryAfter, ct).ConfigureAwait(false);
            notices.Add(new CaNotice(id, revocation, 0));
        }

        // 4. The events for notifications and webhooks (issue #21.2), in the same transaction: a
        //    rolled-back move notifies nobody, a committed one is dispatched after the commit.
        if (move.From != move.To)
        {
            await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.RequestStatusChanged, move.Id.ToString("D"), audit.Time, move.From.ToString(), move.To.ToString()), ct).ConfigureAwait(false);
        }

        foreach (var revocation in revocations.Where(r => r.Reason != ProfileRules.RemoveFromCrl))
        {
            foreach (var serial in revocation.Serials)
            {
                await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.CertificateRevoked, serial.ToUpperInvariant(), revocation.At, Detail: $"reason={revocation.Reason}"), ct).ConfigureAwait(false);
            }
        }

        // 5. The audit event, in the same transaction.
        await uow.Audit.AppendAsync(audit, ct).ConfigureAwait(false);
        return notices.Count == 0 ? AppliedEffects.None : new AppliedEffects(notices);
    }

    private static async Task ApplyAsync(IUnitOfWork uow, Effect effect, List<Revocation> revocations, DateTimeOffset at, CancellationToken ct)
    {
        switch (effect)
        {
            case Effect.Finalize f:
                // The profile was created New by this execution; nothing else moves it meanwhile.
                await uow.Profiles.TryMoveAsync(f.Profile, ProfileStatus.New, ProfileStatus.Active, ct).ConfigureAwait(false);
                await uow.Certificates.MoveAllAsync(f.Profile, CertificateStatus.Issued, CertificateStatus.Current, ct).ConfigureAwait(false);
                break;
            case Effect.Undo u:
                Revoked(revocations, await uow.Certificates.RevokeAllAsync(u.Profile, u.Reason, u.At, ct).ConfigureAwait(false), u.Reason, u.At);
                await uow.Profiles.TryMoveAsync(u.Profile, ProfileStatus.New, ProfileStatus.Retired, ct).ConfigureAwait(false);
                break;
            case Effect.ChangeProfile c:
                var t = c.Transition;

                // The named profile changes only from the status the decision saw; if it moved,
                // the request's move is undone with it.
                if (!await uow.Profiles.TryMoveAsync(t.Profile, t.From, t.To, ct).ConfigureAwait(false))
                {
                    throw new WriteConflictException();
                }

                if (t.ReleaseHolds)
                {
                    // Certificates on hold come back; they drop off the next CRL, which the CA hears of as removeFromCRL.
                    Revoked(revocations, await uow.Certificates.ReleaseAsync(t.Profile, ProfileRules.CertificateHold, CertificateStatus.Current, ct).ConfigureAwait(false),
                        ProfileRules.RemoveFromCrl, c.At);
                }

                if (t.RevocationReason is { } reason)
                {
                    Revoked(revocations, await uow.Certificates.RevokeAllAsync(t.Profile, reason, c.At, ct).ConfigureAwait(false), reason, c.At);
                }

                break;
            case Effect.MoveCard m:
                // From the status the decision saw, or not at all: a card another request moved
                // meanwhile undoes this request's move with it.
                if (!await uow.Cards.TryMoveAsync(m.Card, m.From, m.To, null, ct).ConfigureAwait(false))
                {
                    throw new WriteConflictException();
                }

                await uow.Events.EnqueueAsync(CardMoved(m.Card, m.From, m.To, at), ct).ConfigureAwait(false);

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(effect), effect.GetType().Name, "Unknown effect.");
        }
    }

    /// <summary>The event of a card's move, for notifications and webhooks (issue #21.2).</summary>
    public static OutboxEvent CardMoved(Guid card, SmartcardStatus from, SmartcardStatus to, DateTimeOffset at) =>
        new(EventTypes.CardStatusChanged, card.ToString("D"), at, from.ToString(), to.ToString());

    private static void Revoked(List<Revocation> revocations, IReadOnlyList<string> serials, int reason, DateTimeOffset at)
    {
        if (serials.Count > 0)
        {
            revocations.Add(new Revocation(serials, reason, at));
        }
    }
}

/// <summary>Thrown inside a unit of work whose later compare-and-set lost: the whole unit is abandoned.</summary>
public sealed class WriteConflictException : Exception
{
    public WriteConflictException()
        : base("A compare-and-set inside the unit of work lost; nothing was written.")
    {
    }

    public WriteConflictException(string message)
        : base(message)
    {
    }

    public WriteConflictException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Units of work that may lose a race.</summary>
public static class TransactionsExtensions
{
    /// <summary>Runs <paramref name="work"/>; a <see cref="WriteConflictException"/> inside it rolls everything back and gives default.</summary>
    public static async Task<T?> TryRunAsync<T>(this ITransactions transactions, Func<IUnitOfWork, CancellationToken, Task<T?>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(transactions);
        try
        {
            return await transactions.RunAsync(work, ct).ConfigureAwait(false);
        }
        catch (WriteConflictException)
        {
            return default;
        }
    }
}
