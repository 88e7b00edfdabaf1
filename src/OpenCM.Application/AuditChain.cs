using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OpenCM.Application;

/// <summary>The outcome of verifying the audit chain.</summary>
/// <param name="Count">Events checked.</param>
/// <param name="FirstBad">Sequence number of the first event whose links or content do not match, if any.</param>
/// <param name="Reason">Why that event is bad.</param>
public sealed record AuditVerification(long Count, long? FirstBad, string? Reason)
{
    public bool IsIntact => FirstBad is null;
}

/// <summary>
/// The audit log's hash chain (SPEC §4): each event stores the SHA-256 of the previous event and
/// the SHA-256 of (previous hash, its own canonical content). Changing, removing or reordering
/// any event breaks every later link.
/// </summary>
public static class AuditChain
{
    /// <summary>The previous-hash of the first event.</summary>
    public static readonly string Genesis = new('0', 64);

    /// <summary>The hash of event <paramref name="sequence"/> given the previous hash.</summary>
    public static string Hash(long sequence, string previousHash, AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var canonical = string.Join('\n',
            sequence.ToString(CultureInfo.InvariantCulture),
            previousHash,
            e.Kind,
            e.SubjectId.ToString("D"),
            e.Actor.ToString("D"),
            ((int)e.OldStatus).ToString(CultureInfo.InvariantCulture),
            ((int)e.NewStatus).ToString(CultureInfo.InvariantCulture),
            e.Time.UtcTicks.ToString(CultureInfo.InvariantCulture),
            e.CorrelationId,
            e.Detail);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    /// <summary>Checks every link of the chain in order and names the first bad event.</summary>
    public static async Task<AuditVerification> VerifyAsync(IAuditLog log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        var previous = Genesis;
        long count = 0, expectedSequence = 0;
        await foreach (var stored in log.ReadAllAsync(ct).ConfigureAwait(false))
        {
            count++;
            if (expectedSequence != 0 && stored.Sequence != expectedSequence)
            {
                return new AuditVerification(count, stored.Sequence, $"event {expectedSequence} is missing");
            }

            if (!string.Equals(stored.PreviousHash, previous, StringComparison.Ordinal))
            {
                return new AuditVerification(count, stored.Sequence, "its previous-hash does not match the event before it");
            }

            if (!string.Equals(Hash(stored.Sequence, stored.PreviousHash, stored.Event), stored.Hash, StringComparison.Ordinal))
            {
                return new AuditVerification(count, stored.Sequence, "its content does not match its hash");
            }

            previous = stored.Hash;
            expectedSequence = stored.Sequence + 1;
        }

        return new AuditVerification(count, null, null);
    }
}
