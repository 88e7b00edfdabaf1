using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// A profile, as stored. <see cref="ParentUuid"/> is the profile it replaced (Renew), else empty;
/// <see cref="SmartcardUuid"/> the card it was issued onto, empty for a software profile.
/// </summary>
public sealed record StoredProfile(
    Guid Uuid, Guid TemplateUuid, int TemplateVersion, Guid UserUuid, Guid ParentUuid, ProfileStatus Status, Guid RequestUuid, DateTimeOffset Created,
    Guid SmartcardUuid = default);

/// <summary>Reading software profiles and their certificates (writes happen in a unit of work, <see cref="IProfileWrites"/>).</summary>
public interface IProfileStore
{
    Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default);

    Task<IReadOnlyList<StoredProfile>> ForUserAsync(Guid user, ProfileStatus? status, CancellationToken ct = default);

    Task<IReadOnlyList<StoredProfile>> ForRequestAsync(Guid request, CancellationToken ct = default);

    /// <summary>The profiles issued onto a smart card, oldest first.</summary>
    Task<IReadOnlyList<StoredProfile>> ForSmartcardAsync(Guid card, CancellationToken ct = default);

    /// <summary>The profile's certificates the CA has signed (reserved serials are left out).</summary>
    Task<IReadOnlyList<StoredCertificate>> CertificatesOfProfileAsync(Guid profile, CancellationToken ct = default);

    /// <summary>The user's certificates the CA has signed (reserved serials are left out).</summary>
    Task<IReadOnlyList<StoredCertificate>> CertificatesOfUserAsync(Guid user, CancellationToken ct = default);

    /// <summary>The sealed private key archived for a certificate, if its key was server-generated.</summary>
    Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default);

    /// <summary>Which of <paramref name="serials"/> have an archived key, in one query.</summary>
    Task<IReadOnlySet<string>> ArchivedSerialsAsync(IReadOnlyCollection<string> serials, CancellationToken ct = default);

    /// <summary>The certificate the CA signed under <paramref name="serialHex"/> (hex, any case), or null: never recorded, or only reserved (the help desk's search, issue #23.13).</summary>
    Task<StoredCertificate?> CertificateBySerialAsync(string serialHex, CancellationToken ct = default);
}

/// <summary>Reading a card's profiles.</summary>
public static class CardProfiles
{
    /// <summary>
    /// A card's live profile among <paramref name="profiles"/> (its profiles, oldest first): the
    /// newest one in use, on hold or disabled; not one being issued (New) or done with (Retired).
    /// </summary>
    public static StoredProfile? Live(IReadOnlyList<StoredProfile> profiles)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        return profiles.LastOrDefault(p => p.Status is ProfileStatus.Active or ProfileStatus.Suspended or ProfileStatus.Disabled);
    }
}
