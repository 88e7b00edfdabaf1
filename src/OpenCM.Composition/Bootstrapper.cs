using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>What the first start created.</summary>
/// <param name="Notes">What the operator should know and fix (e.g. an AD directory without the managers group).</param>
public sealed record BootstrapResult(string DataDirectory, bool CreatedAdmin, IReadOnlyList<string> ImportedTemplates, string CaSubject, string CaThumbprint,
    IReadOnlyList<string>? Notes = null);

/// <summary>
/// First-start initialization (SPEC §11): directory domain, the managers and approvers groups,
/// the <c>admin</c> user, the token signing key, and the sample templates. Every step is
/// idempotent, so a second start reuses everything.
/// </summary>
public static class Bootstrapper
{
    public const string AdminUser = "admin";
    public const string ApproversGroup = "CM Approvers";
    private const string SamplePrefix = "OpenCM.Samples.Templates.";

    public static async Task<BootstrapResult> InitializeAsync(IServiceProvider services, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(services);

        // Nodes that start together on one database initialize it one at a time: the second finds
        // everything made and reuses it.
        await OpenCmComposition.StartAsync(services, ct).ConfigureAwait(false);
        return await services.GetRequiredService<StorageProvider>().RunExclusiveAsync("bootstrap", () => InitializeOnceAsync(services, ct), ct).ConfigureAwait(false);
    }

    private static async Task<BootstrapResult> InitializeOnceAsync(IServiceProvider services, CancellationToken ct)
    {
        var directory = services.GetRequiredService<IDirectory>();
        var administration = services.GetRequiredService<DirectoryAdministration>();
        var options = services.GetRequiredService<OpenCmOptions>();
        var notes = new List<string>();

        // 1. The domain and the groups the sample policies name; audited as the server's own first
        //    start. A directory OpenCM does not administer (AD) gets nothing made in it: its
        //    managers group must exist there, and the operator is told when it does not.
        await directory.DomainSidAsync(ct).ConfigureAwait(false);
        var source = services.GetRequiredService<DirectorySource>();
        if (!source.Administered)
        {
            foreach (var group in new[] { options.ManagersGroup, ApproversGroup }.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (await directory.FindByNameAsync(group, ct).ConfigureAwait(false) is not { Kind: PrincipalKind.Group })
                {
                    notes.Add($"The directory ({source.Name}) has no group '{group}'" + (group == options.ManagersGroup
                        ? ": nobody is a CM manager until it exists (or OpenCM:ManagersGroup names another)."
                        : ": the sample templates' approvers are members of it; create it, or import templates that name your groups."));
                }
            }
        }
        else
        {
            await administration.EnsureGroupAsync(AuditContext.Bootstrap, options.ManagersGroup, ct).ConfigureAwait(false);
            await administration.EnsureGroupAsync(AuditContext.Bootstrap, ApproversGroup, ct).ConfigureAwait(false);
        }

        // 2. An administrator in the managers group (embedded directory only).
        var createdAdmin = false;
        if (source.Administered && await directory.FindByNameAsync(AdminUser, ct).ConfigureAwait(false) is null)
        {
            await administration.AddUserAsync(AuditContext.Bootstrap, AdminUser, [options.ManagersGroup], ct).ConfigureAwait(false);
            createdAdmin = true;
        }

        // 3. The CA (made and stored encrypted at step 0 on first start).
        var ca = services.GetRequiredService<OpenCM.Authority.CertificateAuthorities>().Active.Signer.Certificate;

        // 4. Sample templates, only into an installation that has none.
        var imported = new List<string>();
        var templates = services.GetRequiredService<ITemplateStore>();
        if ((await templates.ListAsync(ct).ConfigureAwait(false)).Count == 0)
        {
            var service = services.GetRequiredService<TemplateService>();
            var assembly = typeof(Bootstrapper).Assembly;
            foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(SamplePrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                await using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                try
                {
                    var template = await service.ImportAsync(await reader.ReadToEndAsync(ct).ConfigureAwait(false), name[SamplePrefix.Length..], AuditContext.Bootstrap, ct).ConfigureAwait(false);
                    imported.Add(template.Name);
                }
                catch (OpenCmException e) when (!source.Administered && e.Error.Kind == ErrorKind.ValidationFailed)
                {
                    // AD holds only the groups its administrators made: a sample naming one it
                    // lacks (the note above says which) is left out, and the start goes on (issue #19).
                    notes.Add($"The sample template {name[SamplePrefix.Length..]} was not imported: {e.Error.Detail}");
                }
            }
        }

        // Where the data lives: the data directory, or the PostgreSQL database (without credentials).
        var store = services.GetRequiredService<DataOptions>();
        var data = store.IsPostgres ? services.GetRequiredService<StorageProvider>().Location : Path.GetFullPath(store.DataDirectory);
        return new BootstrapResult(data, createdAdmin, imported, ca.Subject, ca.Thumbprint, notes);
    }
}
