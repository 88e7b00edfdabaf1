using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Bench.Seed;

/// <summary>What to seed: how many requests, into which data directory, spread how.</summary>
public sealed record SeedOptions(string DataDirectory, long Count)
{
    /// <summary>Requests written per transaction (one unit of work): the fsync and the audit head cost once per batch.</summary>
    public int Batch { get; init; } = 10_000;

    /// <summary>Owners the requests are spread over (created as directory users named seed-user-NNNN if missing).</summary>
    public int Users { get; init; } = 200;

    /// <summary>Seed of the pseudo-random spread, so that two runs of one count seed alike (but for the uuids' random bits).</summary>
    public int RandomSeed { get; init; } = 25;

    /// <summary>The newest request's submission time; the oldest is <see cref="Years"/> before it. Pinned, never the wall clock.</summary>
    public DateTimeOffset Until { get; init; } = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    public int Years { get; init; } = 3;

    /// <summary>Where the ids for the benchmark go (ids-N.txt: Pending or Approved requests, for PUT Canceled; get-ids.txt: a sample of all); none when null.</summary>
    public string? IdsDirectory { get; init; }

    /// <summary>How many ids-N.txt files the cancellable ids are dealt over (one per wrk thread).</summary>
    public int IdFiles { get; init; } = 2;

    /// <summary>About how many ids of all requests go to get-ids.txt.</summary>
    public int GetSample { get; init; } = 100_000;

    /// <summary>Initialize the data directory first as <c>opencm init</c> does (master key, admin, sample templates, CA).</summary>
    public bool Initialize { get; init; }
}

/// <summary>What a seeding wrote, and how fast.</summary>
public sealed record SeedResult(long Requests, long AuditEvents, IReadOnlyDictionary<RequestStatus, long> ByStatus, TimeSpan Elapsed)
{
    public double RequestsPerSecond => Requests / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// Writes requests as the server stores them (issue #25, the scale goal), through the storage's
/// own write path: the composition the CLI opens a data directory with (so the audit chain's key
/// comes from the master key as <c>opencm audit verify</c> loads it, decision 0010), then
/// <see cref="ITransactions"/> units of work of <see cref="SeedOptions.Batch"/> requests each:
/// the request row and its readers (<see cref="IRequestWrites.InsertAsync"/>), and the audit
/// events a real request's life leaves (created, then the transitions to where it ended), each
/// linked into the chain by the unit of work's appender. Descriptors are the ones
/// <see cref="RequestDescriptorBuilder"/> makes for the template's Enroll policy. Only the uuid's
/// random bits come from outside the seeded generator; every time comes from the pinned span.
/// What it does not write: profiles, certificates and notification outbox rows (a real site's
/// dispatcher has delivered them): the scale goal is about requests and their audit trail.
/// </summary>
public static class Seeder
{
    // A real site's spread (approximate): most requests done, a few waiting or stopped.
    private static readonly (RequestStatus Status, int PerMille)[] Spread =
    [
        (RequestStatus.Completed, 870),
        (RequestStatus.Approved, 30),
        (RequestStatus.Pending, 30),
        (RequestStatus.Canceled, 40),
        (RequestStatus.Denied, 15),
        (RequestStatus.Failed, 10),
        (RequestStatus.Abandoned, 5),
    ];

    private sealed record Owner(Guid Uuid, Sid Sid);

    private sealed record Form(ProfileTemplate Template, WorkflowPolicy Policy);

    public static async Task<SeedResult> RunAsync(SeedOptions options, TextWriter? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Users, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.IdFiles, 1);

        var configuration = new ConfigurationBuilder().AddEnvironmentVariables()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["OpenCM:DataDirectory"] = options.DataDirectory })
            .Build();
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton<TimeProvider>(new PinnedClock(options.Until))
            .AddOpenCmCore();
        if (options.Initialize)
        {
            services.AllowMasterKeyCreation();
        }

        await using var provider = services.BuildServiceProvider();
        await OpenCmComposition.StartAsync(provider, ct).ConfigureAwait(false);
        if (options.Initialize)
        {
            await Bootstrapper.InitializeAsync(provider, ct).ConfigureAwait(false);
        }

        var directory = provider.GetRequiredService<IDirectory>();
        var administration = provider.GetRequiredService<DirectoryAdministration>();
        var transactions = provider.GetRequiredService<ITransactions>();
        var managers = await provider.GetRequiredService<AccessPolicy>().ManagersAsync(ct).ConfigureAwait(false);
        var admin = await directory.FindByNameAsync(Bootstrapper.AdminUser, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"No user '{Bootstrapper.AdminUser}' in {options.DataDirectory}: run 'opencm init' first, or seed with --init.");

        // 1. The owners: directory users made as opencm users add makes them.
        var who = AuditContext.LocalOperator("seed");
        var owners = new Owner[options.Users];
        for (var u = 0; u < owners.Length; u++)
        {
            var name = $"seed-user-{u:D4}";
            var user = await directory.FindByNameAsync(name, ct).ConfigureAwait(false)
                ?? await administration.AddUserAsync(who, name, [], ct).ConfigureAwait(false);
            owners[u] = new Owner(user.Uuid, user.Sid);
        }

        // 2. The templates whose Enroll policy is on, with each owner's descriptor made once.
        var forms = (await provider.GetRequiredService<ITemplateStore>().ListAsync(ct).ConfigureAwait(false))
            .Select(t => (Template: t, Policy: t.PolicyFor(RequestType.Enroll)))
            .Where(f => f.Policy is { Enabled: true })
            .Select(f => new Form(f.Template, f.Policy!))
            .ToArray();
        if (forms.Length == 0)
        {
            throw new InvalidOperationException("No template allows Enroll requests; import one (bench/templates) first.");
        }

        var descriptors = new (string Descriptor, IReadOnlyCollection<Sid> Readers)[forms.Length, owners.Length];
        for (var f = 0; f < forms.Length; f++)
        {
            for (var o = 0; o < owners.Length; o++)
            {
                var sd = RequestDescriptorBuilder.Build(forms[f].Policy, owners[o].Sid, owners[o].Sid, managers, null,
                    RequestKinds.Of(RequestType.Enroll, forms[f].Template.IsSmartcardProfileTemplate ? Medium.Smartcard : Medium.Software).TargetMayExecute);
                descriptors[f, o] = (sd.ToString(), RequestDescriptorBuilder.ReaderSids(sd));
            }
        }

        // 3. The requests, oldest first, a fixed step apart (jittered within it): every event of
        //    a request falls inside its step, so the chain's times rise with its sequence as a
        //    server's do.
        var rng = new Random(options.RandomSeed);
        var from = options.Until.AddYears(-options.Years);
        var step = options.Count == 0 ? 0 : (options.Until - from).Ticks / options.Count;
        var byStatus = Spread.ToDictionary(s => s.Status, _ => 0L);
        long events = 0;
        using var ids = IdWriters.Open(options);
        var clock = Stopwatch.StartNew();
        for (long done = 0; done < options.Count;)
        {
            var size = (int)Math.Min(options.Batch, options.Count - done);
            var batch = new List<(CmRequest Request, IReadOnlyCollection<Sid> Readers, AuditEvent[] Audit)>(size);
            for (var i = 0; i < size; i++)
            {
                var n = done + i;
                var f = rng.Next(forms.Length);
                var o = rng.Next(owners.Length);
                var submitted = from.AddTicks((n * step) + (step / 4 == 0 ? 0 : rng.NextInt64(step / 4)));
                var (request, audit) = Life(forms[f], owners[o], admin.Uuid, descriptors[f, o].Descriptor, Pick(rng), submitted, step, rng);
                batch.Add((request, descriptors[f, o].Readers, audit));
                byStatus[request.Status]++;
                events += audit.Length;
                ids?.Add(request);
            }

            await transactions.RunAsync(async (uow, c) =>
            {
                foreach (var (request, readers, audit) in batch)
                {
                    await uow.Requests.InsertAsync(request, readers, c).ConfigureAwait(false);
                    foreach (var e in audit)
                    {
                        await uow.Audit.AppendAsync(e, c).ConfigureAwait(false);
                    }
                }

                return true;
            }, ct).ConfigureAwait(false);
            done += size;
            if (progress is not null && (done % (options.Batch * 50L) == 0 || done == options.Count))
            {
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"seeded {done:N0} requests in {clock.Elapsed.TotalSeconds:F0} s ({done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):N0}/s)")).ConfigureAwait(false);
            }
        }

        return new SeedResult(options.Count, events, byStatus, clock.Elapsed);
    }

    private static RequestStatus Pick(Random rng)
    {
        var x = rng.Next(1000);
        foreach (var (status, perMille) in Spread)
        {
            if ((x -= perMille) < 0)
            {
                return status;
            }
        }

        return RequestStatus.Completed;
    }

    // A request as RequestCreation writes it, then moved to where it ended with the audit events
    // the transitions write (RequestTransitions: StatusChanged). A status the policy cannot reach
    // (Pending or Denied with no approval needed) ends one step along instead.
    private static (CmRequest Request, AuditEvent[] Audit) Life(Form form, Owner owner, Guid manager, string descriptor, RequestStatus end, DateTimeOffset submitted, long step, Random rng)
    {
        var initial = RequestLifecycle.InitialStatus(form.Policy.ApprovalsNeeded);
        if (initial == RequestStatus.Approved && end is RequestStatus.Pending or RequestStatus.Denied)
        {
            end = end == RequestStatus.Pending ? RequestStatus.Approved : RequestStatus.Canceled;
        }

        var correlation = Guid.NewGuid().ToString("N");
        var path = new List<(RequestStatus From, RequestStatus To, Guid Actor)>();
        var at = initial;
        if (at == RequestStatus.Pending && end is not (RequestStatus.Pending or RequestStatus.Denied or RequestStatus.Canceled))
        {
            path.Add((at, RequestStatus.Approved, manager));
            at = RequestStatus.Approved;
        }

        if (end == RequestStatus.Completed)
        {
            path.Add((at, RequestStatus.Executing, owner.Uuid));
            at = RequestStatus.Executing;
        }

        if (end != at)
        {
            path.Add((at, end, end == RequestStatus.Denied ? manager : owner.Uuid));
        }

        // Each later event a little after the one before, all within the request's step.
        var gap = Math.Max(1, step / 2 / (path.Count + 1));
        var audit = new AuditEvent[path.Count + 1];
        audit[0] = new AuditEvent("RequestCreated", Guid.Empty, owner.Uuid, RequestStatus.None, initial, submitted, correlation,
            $"type={RequestType.Enroll} template={form.Template.Uuid:D} target={owner.Uuid:D}");
        var when = submitted;
        for (var i = 0; i < path.Count; i++)
        {
            when = when.AddTicks(1 + rng.NextInt64(gap));
            audit[i + 1] = new AuditEvent("StatusChanged", Guid.Empty, path[i].Actor, path[i].From, path[i].To, when, Guid.NewGuid().ToString("N"), $"status={path[i].To}");
        }

        var request = new CmRequest
        {
            Uuid = Guid.CreateVersion7(submitted),
            RequestType = RequestType.Enroll,
            Status = end,
            Flags = (form.Template.IsSmartcardProfileTemplate ? RequestFlags.Smartcard : RequestFlags.None)
                  | (form.Policy.EnrollAgentRequired ? RequestFlags.EnrollmentAgent : RequestFlags.None),
            DataCollection = [],
            DataCollectionFlags = form.Policy.DataCollectionFlags,
            OriginatorUserUuid = owner.Uuid,
            TargetUserUuid = owner.Uuid,
            Submitted = submitted,
            Completed = end.IsTerminal() ? when : null,
            Comment = "",
            ProfileTemplateUuid = form.Template.Uuid,
            SecurityDescriptor = descriptor,
            IsDataCollectionComplete = true,
            ApprovalsNeeded = Math.Max(0, form.Policy.ApprovalsNeeded),
            Version = 1 + path.Count,
        };
        for (var i = 0; i < audit.Length; i++)
        {
            audit[i] = audit[i] with { SubjectId = request.Uuid };
        }

        return (request, audit);
    }

    private sealed class PinnedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    // The ids the benchmark reads: every cancellable request once, dealt over one file per wrk
    // thread; and about GetSample ids of all requests for GET by id.
    private sealed class IdWriters : IDisposable
    {
        private readonly StreamWriter[] _put;
        private readonly StreamWriter _get;
        private readonly double _getShare;
        private readonly Random _sample = new(1);
        private long _next;

        private IdWriters(SeedOptions options)
        {
            Directory.CreateDirectory(options.IdsDirectory!);
            _put = [.. Enumerable.Range(0, options.IdFiles).Select(i => new StreamWriter(Path.Combine(options.IdsDirectory!, $"ids-{i}.txt")))];
            _get = new StreamWriter(Path.Combine(options.IdsDirectory!, "get-ids.txt"));
            _getShare = options.Count == 0 ? 0 : Math.Min(1.0, options.GetSample / (double)options.Count);
        }

        public static IdWriters? Open(SeedOptions options) => options.IdsDirectory is null ? null : new IdWriters(options);

        public void Add(CmRequest request)
        {
            if (request.Status is RequestStatus.Pending or RequestStatus.Approved)
            {
                _put[_next++ % _put.Length].WriteLine(request.Uuid.ToString("D"));
            }

            if (_sample.NextDouble() < _getShare)
            {
                _get.WriteLine(request.Uuid.ToString("D"));
            }
        }

        public void Dispose()
        {
            foreach (var w in _put)
            {
                w.Dispose();
            }

            _get.Dispose();
        }
    }
}
