using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OpenCM.Application;

/// <summary>The outcome of verifying the audit chain.</summary>
/// <param name="Count">Events checked.</param>
/// <param name="FirstBad">Sequence number of the first event whose links or content do not match (or where the chain should go on), if any.</param>
/// <param name="Reason">Why that event is bad.</param>
/// <param name="KeyedFrom">The sequence number of the keyed checkpoint, when the chain has one (decision 0010).</param>
public sealed record AuditVerification(long Count, long? FirstBad, string? Reason, long? KeyedFrom = null)
{
    public bool IsIntact => FirstBad is null;
}

/// <summary>
/// The chain's head as the database stores it (the one <c>audit_head</c> row): the last event's
/// sequence number and hash, and where the keyed part of the chain begins (null before the checkpoint).
/// </summary>
public sealed record AuditHead(long Sequence, string Hash, long? KeyedFrom);

/// <summary>
/// The key the audit chain's links are HMACs under (decision 0010): derived with HKDF-SHA256 from
/// the installation's master key, which the database never holds, so that whoever can write the
/// database cannot recompute a link. Only its derivation and use live here; the master key does not.
/// </summary>
public sealed class AuditChainKey
{
    /// <summary>The HKDF info label; a new label is a new key (and a new checkpoint).</summary>
    public const string Label = "opencm/audit-chain/v1";

    private readonly byte[] _key;

    private AuditChainKey(byte[] key) => _key = key;

    /// <summary>The chain key of <paramref name="masterKey"/> (32 bytes).</summary>
    public static AuditChainKey Derive(ReadOnlySpan<byte> masterKey)
    {
        if (masterKey.Length < 32)
        {
            throw new ArgumentException("The master key must be at least 32 bytes.", nameof(masterKey));
        }

        var key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, key, salt: [], info: Encoding.ASCII.GetBytes(Label));
        return new AuditChainKey(key);
    }

    internal string Mac(string canonical) => Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(canonical)));
}

/// <summary>
/// The audit log's chain (SPEC §4; decisions 0004 and 0010). Each event stores the previous
/// event's link and its own: up to the keyed checkpoint the SHA-256 of (sequence, previous link,
/// canonical content), as before the chain was keyed; from the checkpoint on an HMAC-SHA256 of the
/// same text under <see cref="AuditChainKey"/>. The <c>audit_head</c> row names the last event and
/// its link, so removing events from the end is as visible as changing one in the middle.
/// </summary>
public static class AuditChain
{
    /// <summary>The previous-hash of the first event.</summary>
    public static readonly string Genesis = new('0', 64);

    /// <summary>The kind of the checkpoint event from which on every link is keyed.</summary>
    public const string CheckpointKind = "AuditChainKeyed";

    /// <summary>The unkeyed link of event <paramref name="sequence"/> given the previous one (events before the checkpoint).</summary>
    public static string Hash(long sequence, string previousHash, AuditEvent e) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(sequence, previousHash, e))));

    /// <summary>The keyed link of event <paramref name="sequence"/> given the previous one (the checkpoint and every event after it).</summary>
    public static string KeyedHash(AuditChainKey key, long sequence, string previousHash, AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Mac(Canonical(sequence, previousHash, e));
    }

    /// <summary>
    /// The checkpoint appended once, at the first start after the upgrade (or as a new chain's
    /// first event): from <paramref name="sequence"/> on the chain is keyed, and it names the
    /// unkeyed head it continues, so that the unkeyed prefix is bound into the first keyed link.
    /// </summary>
    public static AuditEvent Checkpoint(long sequence, string unkeyedHeadHash, DateTimeOffset at) =>
        new(CheckpointKind, Guid.Empty, Guid.Empty, Domain.RequestStatus.None, Domain.RequestStatus.None, at, "audit-chain",
            string.Create(CultureInfo.InvariantCulture, $"keyed from seq {sequence} on (HMAC-SHA256, {AuditChainKey.Label}); unkeyed head seq {sequence - 1} hash {unkeyedHeadHash}"));

    private static string Canonical(long sequence, string previousHash, AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return string.Join('\n',
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
    }

    /// <summary>
    /// Checks the chain against its head: every event from sequence 1 in order, each link (unkeyed
    /// up to the checkpoint, keyed from it on), and that the last event is the one the head names.
    /// A chain that holds events but no checkpoint is not intact (every start keys the chain), and
    /// neither is a head that names events the table no longer holds. Names the first bad event.
    /// </summary>
    public static async Task<AuditVerification> VerifyAsync(IAuditLog log, AuditChainKey key, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(key);

        // The head first: events appended after it was read are past it and left for the next run.
        if (await log.ReadHeadAsync(ct).ConfigureAwait(false) is not { } head)
        {
            return new AuditVerification(0, 1, "the chain's head row is missing");
        }
        var previous = Genesis;
        long count = 0, expectedSequence = 1;
        long? keyedFrom = null;
        await foreach (var stored in log.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (stored.Sequence > head.Sequence)
            {
                break;
            }

            count++;
            if (stored.Sequence != expectedSequence)
            {
                return new AuditVerification(count, expectedSequence, $"event {expectedSequence} is missing", keyedFrom);
            }

            if (!string.Equals(stored.PreviousHash, previous, StringComparison.Ordinal))
            {
                return new AuditVerification(count, stored.Sequence, "its previous-hash does not match the event before it", keyedFrom);
            }

            var isCheckpoint = string.Equals(stored.Event.Kind, CheckpointKind, StringComparison.Ordinal);
            if (isCheckpoint && keyedFrom is not null)
            {
                return new AuditVerification(count, stored.Sequence, $"a second keyed checkpoint (the chain is keyed from event {keyedFrom})", keyedFrom);
            }

            keyedFrom ??= isCheckpoint ? stored.Sequence : null;
            var expected = keyedFrom is null
                ? Hash(stored.Sequence, stored.PreviousHash, stored.Event)
                : KeyedHash(key, stored.Sequence, stored.PreviousHash, stored.Event);
            if (!string.Equals(expected, stored.Hash, StringComparison.Ordinal))
            {
                return new AuditVerification(count, stored.Sequence,
                    keyedFrom is null ? "its content does not match its hash" : "its content does not match its keyed hash (or the master key is not this chain's)", keyedFrom);
            }

            previous = stored.Hash;
            expectedSequence = stored.Sequence + 1;
        }

        // The head names the last event: events removed from the end (or all of them) leave it pointing past the table.
        if (count != head.Sequence)
        {
            return new AuditVerification(count, expectedSequence, $"the head names event {head.Sequence} but the chain ends at event {count}", keyedFrom);
        }

        if (!string.Equals(previous, head.Hash, StringComparison.Ordinal))
        {
            return new AuditVerification(count, head.Sequence, "the head's hash does not match the last event's", keyedFrom);
        }

        if (count > 0 && keyedFrom is null)
        {
            return new AuditVerification(count, 1, "the chain has no keyed checkpoint (every start of the server keys it)", keyedFrom);
        }

        if (head.KeyedFrom != keyedFrom)
        {
            return new AuditVerification(count, keyedFrom ?? head.KeyedFrom, "the head's keyed-from does not match the checkpoint", keyedFrom);
        }

        return new AuditVerification(count, null, null, keyedFrom);
    }
}

/// <summary>
/// The correlation ids an audit event carries: the server's own, always, and beside it the value a
/// client sent in <c>X-Correlation-Id</c>, when it was a sane token (issue #18: a client's value was
/// stored as if the server had made it). Use cases pass one string along; this is the one place
/// that joins and splits it, and storage keeps the two in separate columns.
/// </summary>
public static class CorrelationIds
{
    /// <summary>The longest client value kept; longer ones are dropped.</summary>
    public const int ClientMaxLength = 64;

    private const string Separator = " client=";

    /// <summary>Whether <paramref name="value"/> may be kept as a client's correlation id: 1-64 of A-Z a-z 0-9 - _ .</summary>
    public static bool IsSaneClientValue(string? value) =>
        value is { Length: > 0 and <= ClientMaxLength } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>The server's id with the client's beside it; a client value that is not sane is dropped.</summary>
    public static string WithClient(string server, string? client) =>
        IsSaneClientValue(client) ? server + Separator + client : server;

    /// <summary>The server's id and the client's (empty when none) of what <see cref="WithClient"/> made.</summary>
    public static (string Server, string Client) Split(string correlationId)
    {
        ArgumentNullException.ThrowIfNull(correlationId);
        var at = correlationId.IndexOf(Separator, StringComparison.Ordinal);
        return at < 0 ? (correlationId, "") : (correlationId[..at], correlationId[(at + Separator.Length)..]);
    }
}
