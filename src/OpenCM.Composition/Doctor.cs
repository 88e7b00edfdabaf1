using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.Storage.Sqlite;

namespace OpenCM.Composition;

/// <summary>How a check of <c>opencm doctor</c> came out: ok, worth a look, or what stops the server.</summary>
public enum DoctorStatus
{
    Ok = 0,
    Warn = 1,
    Fail = 2,
}

/// <summary>One line of <c>opencm doctor</c>: which check, how it came out, and in plain words what was found or what to do.</summary>
public sealed record DoctorFinding(string Check, DoctorStatus Status, string Message);

/// <summary>
/// <c>opencm doctor</c> (issue #21.5): looks at an installation as the server would start on it,
/// through the same composition (<see cref="OpenCmComposition.AddOpenCmCore"/>), and changes
/// nothing: no migration, no first CA, no key file or data directory made. Checks, in order: the
/// configuration (every options class bound), the data directory and master key, the database
/// (reachable, schema as new as this build, not newer), the CAs (an active one, valid now and not
/// within <see cref="ExpiryWarning"/> of its end, every key reachable, a test signature that
/// verifies), the directory (the managers group; an LDAP bind), and the clock. A check that cannot
/// run because an earlier one failed says so. Messages never carry a password, PIN or key:
/// exceptions are reduced to their message, and the connection string is never repeated.
/// </summary>
public static class Doctor
{
    /// <summary>A CA certificate ending sooner than this is a warning.</summary>
    public static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(30);

    /// <summary>Clock difference with PostgreSQL past which tokens (2 minutes' skew) and dates disagree.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(2);

    /// <summary>Runs every check against <paramref name="configuration"/>, with <paramref name="clock"/> as the server's time.</summary>
    public static async Task<IReadOnlyList<DoctorFinding>> RunAsync(IConfiguration configuration, IReadOnlyList<OptionsClass> classes, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(clock);
        var findings = new List<DoctorFinding>();

        // 1. Configuration: values that do not bind, keys nothing reads, choices that do not exist.
        var settingsOk = CheckConfiguration(configuration, classes, findings);
        if (!settingsOk)
        {
            findings.Add(new("database", DoctorStatus.Fail, "not checked: fix the configuration first"));
            return findings;
        }

        var services = new ServiceCollection().AddSingleton(configuration).AddSingleton(clock).AddOpenCmCore().BuildServiceProvider();
        await using (services.ConfigureAwait(false))
        {
            var data = services.GetRequiredService<DataOptions>();

            // 2. Where the data and the master key are, looked at before anything opens (and so creates) them.
            var filesOk = CheckFiles(data, findings);

            // 3. The database.
            var databaseOk = filesOk && await Guard("database", findings, () => CheckDatabaseAsync(services, data, findings, ct)).ConfigureAwait(false);
            if (!databaseOk)
            {
                findings.Add(new("ca", DoctorStatus.Fail, "not checked: the database must answer first"));
                return findings;
            }

            // 4. The CAs; 5. the directory; 6. the clock.
            var notBefore = await GuardValue("ca", findings, () => CheckAuthoritiesAsync(services, clock, findings, ct)).ConfigureAwait(false);
            await Guard("directory", findings, () => CheckDirectoryAsync(services, findings, ct)).ConfigureAwait(false);
            await Guard("clock", findings, () => CheckClockAsync(services, data, clock, notBefore, findings, ct)).ConfigureAwait(false);
        }

        return findings;
    }

    private static bool CheckConfiguration(IConfiguration configuration, IReadOnlyList<OptionsClass> classes, List<DoctorFinding> findings)
    {
        var problems = new List<string>(OptionsCatalogue.Problems(configuration, classes));
        DataOptions? data = null;
        CaOptions? ca = null;
        try
        {
            data = configuration.GetSection(DataOptions.Section).Get<DataOptions>() ?? new DataOptions();
            ca = configuration.GetSection(CaOptions.Section).Get<CaOptions>() ?? new CaOptions();
        }
        catch (InvalidOperationException)
        {
            // A value that does not convert: said above, key by key.
        }

        Refused(() => DirectoryChoice.Source(configuration["Directory:Source"]), problems);
        if (data is not null && Refused(() => StorageChoice.Provider(data.Database), problems) && data.IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(data.ConnectionString))
            {
                problems.Add("OpenCM:Database is postgres without a connection string: give --connection or OpenCM:ConnectionString (OpenCM__ConnectionString in the environment)");
            }

            if (ca is not null && string.IsNullOrWhiteSpace(ca.PublicUrl))
            {
                problems.Add("OpenCM:Database is postgres (a cluster) and Ca:PublicUrl is not set: set it to the address every node answers at (e.g. https://cm.contoso.com); the server refuses to start without it");
            }
        }

        if (ca?.PublicUrl is { Length: > 0 } url && !(Uri.TryCreate(url, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https"))
        {
            problems.Add($"Ca:PublicUrl is '{url}', which is not an http:// or https:// address");
        }

        if (ca?.Pkcs11 is { Enabled: true } pkcs11)
        {
            if (!File.Exists(pkcs11.Library))
            {
                problems.Add($"Ca:Pkcs11:Library '{pkcs11.Library}' does not exist: give the PKCS#11 module's path");
            }

            if (string.IsNullOrWhiteSpace(pkcs11.TokenLabel) && pkcs11.SlotId is null)
            {
                problems.Add("Ca:Pkcs11 names no token: set Ca:Pkcs11:TokenLabel (or SlotId)");
            }

            Refused(() => pkcs11.ReadPin(), problems);
        }

        foreach (var problem in problems)
        {
            findings.Add(new("configuration", DoctorStatus.Fail, problem));
        }

        if (problems.Count == 0)
        {
            findings.Add(new("configuration", DoctorStatus.Ok, string.Create(CultureInfo.InvariantCulture, $"{classes.Count} options classes bound; every value configured is read and valid")));
        }

        return problems.Count == 0;
    }

    // True when the choice was accepted; a refusal's message (which says what to set) is a problem.
    private static bool Refused(Action choose, List<string> problems)
    {
        try
        {
            choose();
            return true;
        }
        catch (Exception e) when (e is ConfigurationRefusedException or Authority.Pkcs11.Pkcs11ConfigurationException)
        {
            problems.Add(e.Message.TrimEnd('.'));
            return false;
        }
    }

    private static bool CheckFiles(DataOptions data, List<DoctorFinding> findings)
    {
        var directory = Path.GetFullPath(data.DataDirectory);
        var ok = true;
        if (!data.IsPostgres && !File.Exists(Path.Combine(directory, SqliteDataDirectory.DatabaseFile)))
        {
            findings.Add(new("data directory", DoctorStatus.Fail,
                $"no OpenCM database in '{directory}': check --data (OpenCM:DataDirectory), or create one with 'opencm init --data {data.DataDirectory}'"));
            return false;
        }

        if (data.MasterKey is { Length: > 0 } configured)
        {
            try
            {
                _ = MasterKey.FromBase64(configured);
                findings.Add(new("master key", DoctorStatus.Ok, "from OpenCM:MasterKey"));
            }
            catch (Exception e) when (e is FormatException or CryptographicException)
            {
                findings.Add(new("master key", DoctorStatus.Fail, "OpenCM:MasterKey is not a base64 master key: give the one the database's secrets were sealed under"));
                ok = false;
            }

            return ok;
        }

        var keyFile = Path.Combine(directory, SqliteDataDirectory.MasterKeyFile);
        if (!File.Exists(keyFile))
        {
            findings.Add(new("master key", DoctorStatus.Fail, data.IsPostgres
                ? $"no {SqliteDataDirectory.MasterKeyFile} in '{directory}' and no OpenCM:MasterKey: give every node the same key (a copy of the first node's master.key, or OpenCM:MasterKey)"
                : $"no {SqliteDataDirectory.MasterKeyFile} in '{directory}': the database's secrets cannot be opened without it; restore it from your backup"));
            return false;
        }

        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((File.GetUnixFileMode(keyFile) & others) != 0)
            {
                findings.Add(new("master key", DoctorStatus.Fail, $"{keyFile} can be read by other users than its owner: chmod 600 '{keyFile}' (and rotate the key if others did read it)"));
                ok = false;
            }

            if ((File.GetUnixFileMode(directory) & others) != 0)
            {
                findings.Add(new("data directory", DoctorStatus.Warn, $"'{directory}' is open to other users than its owner: chmod 700 '{directory}' (the server makes it so at start)"));
            }
            else
            {
                findings.Add(new("data directory", DoctorStatus.Ok, $"'{directory}' is its owner's only"));
            }
        }

        if (ok)
        {
            findings.Add(new("master key", DoctorStatus.Ok, $"{keyFile}, its owner's only"));
        }

        return ok;
    }

    private static async Task<bool> CheckDatabaseAsync(IServiceProvider services, DataOptions data, List<DoctorFinding> findings, CancellationToken ct)
    {
        var provider = services.GetRequiredService<StorageProvider>();
        IReadOnlyList<long> applied;
        try
        {
            applied = await provider.AppliedMigrationsAsync(ct).ConfigureAwait(false);
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.Unavailable)
        {
            findings.Add(new("database", DoctorStatus.Fail, data.IsPostgres
                ? $"PostgreSQL at {provider.Location} does not answer: check that it runs, the host, port, database, user and password of the connection string, and the network"
                : $"the database at {provider.Location} cannot be opened: check the file and its permissions"));
            return false;
        }

        var newest = provider.NewestMigration;
        var highest = applied.Count == 0 ? 0 : applied.Max();
        if (applied.Count == 0)
        {
            findings.Add(new("database", DoctorStatus.Fail, $"{provider.Location} holds no OpenCM schema: run 'opencm migrate' (or 'opencm init') with the same settings"));
            return false;
        }

        if (highest > newest)
        {
            findings.Add(new("database", DoctorStatus.Fail, string.Create(CultureInfo.InvariantCulture,
                $"{provider.Location}: schema version {highest} is newer than this build's {newest}: a newer OpenCM migrated it; run that version (or restore a backup from before the upgrade), this one does not know its tables")));
            return false;
        }

        var pending = await provider.PendingMigrationsAsync(ct).ConfigureAwait(false);
        if (pending > 0)
        {
            findings.Add(new("database", DoctorStatus.Warn, string.Create(CultureInfo.InvariantCulture,
                $"{provider.Location}: schema version {highest}, this build's is {newest} ({pending} migration(s) to apply): the next start applies the missing migrations (or run 'opencm migrate' as the tables' owner)")));
            return true;
        }

        findings.Add(new("database", DoctorStatus.Ok, string.Create(CultureInfo.InvariantCulture, $"{provider.Location} answers; schema version {highest}, this build's")));
        return true;
    }

    // The CAs: returns the active CA certificate's notBefore (for the clock check), if one was read.
    private static async Task<DateTimeOffset?> CheckAuthoritiesAsync(IServiceProvider services, TimeProvider clock, List<DoctorFinding> findings, CancellationToken ct)
    {
        var stored = await services.GetRequiredService<IAuthorityStore>().ListAsync(ct).ConfigureAwait(false);
        var active = stored.FirstOrDefault(a => a.State == AuthorityState.Active);
        if (active?.Certificate is null)
        {
            findings.Add(new("ca", DoctorStatus.Fail, "no active CA: 'opencm init' or the first 'opencm serve' makes one; 'opencm ca install' activates a subordinate CA"));
            return null;
        }

        var context = services.GetRequiredService<CaContext>();
        var now = clock.GetUtcNow();
        DateTimeOffset? notBefore = null;
        foreach (var authority in stored.Where(a => a.State != AuthorityState.Pending))
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"CA {authority.Id} '{authority.Name}'");
            ICertificateSigner signer;
            try
            {
                signer = await CaSetup.OpenSignerAsync(context, authority, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                findings.Add(new("ca", DoctorStatus.Fail, $"{name}: its key cannot be reached ({authority.KeyReference}): {Plain(e)}"));
                continue;
            }

            using (signer)
            {
                var backend = authority.KeyReference.StartsWith(Pkcs11CaSetup.KeyPrefix, StringComparison.Ordinal) ? "PKCS#11 token" : "software key sealed in the database";
                if (!TestSignatureVerifies(signer))
                {
                    findings.Add(new("ca", DoctorStatus.Fail, $"{name}: a test signature with its key ({backend}) does not verify under its certificate: the key and the certificate do not belong together"));
                    continue;
                }

                if (authority.Id != active.Id)
                {
                    findings.Add(new("ca", DoctorStatus.Ok, $"{name} ({authority.State}): key reachable ({backend}), test signature verifies"));
                    continue;
                }

                var certificate = signer.Certificate;
                var until = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
                notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
                var end = until.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
                if (now >= until)
                {
                    findings.Add(new("ca", DoctorStatus.Fail, $"{name} (active): its certificate expired on {end}; nothing it signs is trusted: make and install a new CA (docs/production-ca.md)"));
                }
                else if (until - now < ExpiryWarning)
                {
                    findings.Add(new("ca", DoctorStatus.Warn, string.Create(CultureInfo.InvariantCulture,
                        $"{name} (active): its certificate ends on {end}, in {(int)(until - now).TotalDays} days: roll it over now (docs/production-ca.md)")));
                }
                else
                {
                    findings.Add(new("ca", DoctorStatus.Ok, $"{name} (active): valid until {end}; key reachable ({backend}), test signature verifies"));
                }

                // Where SCEP's RA key lives follows the CA's key source (issue #24; docs/scep.md).
                findings.Add(new("scep", DoctorStatus.Ok, await ScepRaKeys.DescribeAsync(context.Secrets, authority, services.GetRequiredService<ScepOptions>(), clock, ct).ConfigureAwait(false)));
            }
        }

        return notBefore;
    }

    // Signs random bytes with the CA's key and verifies them with its certificate's public key.
    private static bool TestSignatureVerifies(ICertificateSigner signer)
    {
        var data = RandomNumberGenerator.GetBytes(32);
        var signature = signer.Generator.SignData(data, signer.HashAlgorithm);
        using var ecdsa = signer.Certificate.GetECDsaPublicKey();
        if (ecdsa is not null)
        {
            return ecdsa.VerifyData(data, signature, signer.HashAlgorithm, DSASignatureFormat.Rfc3279DerSequence);
        }

        using var rsa = signer.Certificate.GetRSAPublicKey();
        return rsa is not null && (rsa.VerifyData(data, signature, signer.HashAlgorithm, RSASignaturePadding.Pkcs1) || rsa.VerifyData(data, signature, signer.HashAlgorithm, RSASignaturePadding.Pss));
    }

    private static async Task<bool> CheckDirectoryAsync(IServiceProvider services, List<DoctorFinding> findings, CancellationToken ct)
    {
        var source = services.GetRequiredService<DirectorySource>();
        if (!source.Administered)
        {
            try
            {
                await DirectoryChoice.CheckAsync(services, ct).ConfigureAwait(false);
            }
            catch (ConfigurationRefusedException e)
            {
                findings.Add(new("directory", DoctorStatus.Fail, e.Message));
                return false;
            }
            catch (OpenCmException e) when (e.Error.Kind == ErrorKind.Unavailable)
            {
                findings.Add(new("directory", DoctorStatus.Fail, $"{source.Name} does not answer: {e.Error.Detail} Check Directory:Ldap:Url, the network and the directory's certificate (Directory:Ldap:CaFile)"));
                return false;
            }
        }

        var managers = services.GetRequiredService<OpenCmOptions>().ManagersGroup;
        if (await services.GetRequiredService<IDirectory>().FindByNameAsync(managers, ct).ConfigureAwait(false) is not { Kind: PrincipalKind.Group })
        {
            findings.Add(new("directory", DoctorStatus.Warn, source.Administered
                ? $"the managers group '{managers}' does not exist: nobody is a CM manager; the next start creates it (OpenCM:ManagersGroup names it)"
                : $"{source.Name} has no group '{managers}': nobody is a CM manager until it exists (or OpenCM:ManagersGroup names another)"));
            return true;
        }

        findings.Add(new("directory", DoctorStatus.Ok, source.Administered
            ? $"embedded; the managers group '{managers}' exists"
            : $"{source.Name}: bind and base work; the managers group '{managers}' exists"));
        return true;
    }

    private static async Task<bool> CheckClockAsync(IServiceProvider services, DataOptions data, TimeProvider clock, DateTimeOffset? caNotBefore, List<DoctorFinding> findings, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var ok = true;
        if (caNotBefore is { } nb && nb > now)
        {
            findings.Add(new("clock", DoctorStatus.Warn, $"the active CA's certificate starts on {nb.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}, after this clock's {now.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}: this machine's clock is behind (check NTP), or the CA was made on one that was ahead"));
            ok = false;
        }

        if (data.IsPostgres)
        {
            var provider = services.GetRequiredService<StorageProvider>();
            var database = await provider.ReadAsync(async (conn, c) =>
            {
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = "SELECT now()";
                return (DateTime)(await cmd.ExecuteScalarAsync(c).ConfigureAwait(false))!;
            }, ct).ConfigureAwait(false);
            var skew = new DateTimeOffset(DateTime.SpecifyKind(database.ToUniversalTime(), DateTimeKind.Utc)) - now;
            var seconds = Math.Abs(skew.TotalSeconds).ToString("0", CultureInfo.InvariantCulture);
            if (skew.Duration() > ClockSkew)
            {
                findings.Add(new("clock", DoctorStatus.Fail, $"this machine's clock and PostgreSQL's differ by {seconds} s: tokens, approvals and certificates are dated by both; synchronize them (NTP)"));
                return false;
            }

            if (ok)
            {
                findings.Add(new("clock", DoctorStatus.Ok, $"within {seconds} s of PostgreSQL's"));
            }

            return ok;
        }

        if (ok)
        {
            findings.Add(new("clock", DoctorStatus.Ok, "the active CA's certificate has started (SQLite: no database clock to compare with)"));
        }

        return ok;
    }

    private static async Task<bool> Guard(string check, List<DoctorFinding> findings, Func<Task<bool>> run)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            findings.Add(new(check, DoctorStatus.Fail, Plain(e)));
            return false;
        }
    }

    private static async Task<T?> GuardValue<T>(string check, List<DoctorFinding> findings, Func<Task<T?>> run)
        where T : struct
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            findings.Add(new(check, DoctorStatus.Fail, Plain(e)));
            return null;
        }
    }

    // An exception as one line: its message (OpenCM's own say what to fix), never a stack trace.
    private static string Plain(Exception e) => e switch
    {
        OpenCmException o => o.Error.Detail,
        MasterKeyException m => $"{m.Message} Every node needs the master key the secrets were sealed under.",
        _ => e.Message.ReplaceLineEndings(" "),
    };
}
