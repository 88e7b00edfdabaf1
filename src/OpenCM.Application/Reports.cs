using System.Globalization;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Settings of the managers' reports (configuration section <c>Reports</c>; docs/configuration.md).</summary>
public sealed class ReportOptions
{
    public const string Section = "Reports";

    /// <summary>Rows on one page of a portal report (1 to <see cref="Reports.MaxPageSize"/>; larger values are clamped).</summary>
    public int PageSize { get; set; } = 100;

    /// <summary>The most rows one CSV download from the portal carries; past it the file ends with a line saying it was cut.</summary>
    public int MaxCsvRows { get; set; } = 100_000;
}

/// <summary>A row of a report: its cells as text, in the order of its type's <see cref="Columns"/> (table, CSV and JSON alike).</summary>
public interface IReportRow
{
    static abstract IReadOnlyList<string> Columns { get; }

    IReadOnlyList<string> Cells();
}

/// <summary>A page of a report and the opaque continuation of the next one (null on the last).</summary>
public sealed record ReportPage<T>(IReadOnlyList<T> Items, string? Next);

/// <summary>An expiring certificate, for a manager: whose, which template, when, how many whole days are left.</summary>
public sealed record ExpiringCertificateView(string SerialHex, DateTimeOffset NotAfter, int DaysLeft, string User, string CertificateTemplate, Guid ProfileUuid, CertificateStatus Status) : IReportRow
{
    public static IReadOnlyList<string> Columns { get; } = ["Serial", "Not after (UTC)", "Days left", "User", "Certificate template", "Profile", "Status"];

    public IReadOnlyList<string> Cells() =>
        [SerialHex, Reports.Format(NotAfter), DaysLeft.ToString(CultureInfo.InvariantCulture), User, CertificateTemplate, ProfileUuid.ToString("D"), Status.ToString()];
}

/// <summary>How many cards of one profile template stand in one status.</summary>
public sealed record CardCountView(SmartcardStatus Status, string Template, long Count) : IReportRow
{
    public static IReadOnlyList<string> Columns { get; } = ["Status", "Template", "Cards"];

    public IReadOnlyList<string> Cells() => [Status.ToString(), Template, Count.ToString(CultureInfo.InvariantCulture)];
}

/// <summary>How many requests of one type submitted in the period stand in one status.</summary>
public sealed record RequestCountView(RequestType Type, RequestStatus Status, long Count) : IReportRow
{
    public static IReadOnlyList<string> Columns { get; } = ["Type", "Status", "Requests"];

    public IReadOnlyList<string> Cells() => [Type.ToString(), Status.ToString(), Count.ToString(CultureInfo.InvariantCulture)];
}

/// <summary>A profile template and its settings: its kind, each enabled request type's approvals and self-service, its certificate templates.</summary>
public sealed record TemplateView(string Name, Guid Uuid, int Version, string Kind, string Policies, string CertificateTemplates) : IReportRow
{
    public static IReadOnlyList<string> Columns { get; } = ["Name", "Uuid", "Version", "Kind", "Enabled request types (approvals, self-service)", "Certificate templates"];

    public IReadOnlyList<string> Cells() => [Name, Uuid.ToString("D"), Version.ToString(CultureInfo.InvariantCulture), Kind, Policies, CertificateTemplates];
}

/// <summary>An audit event of one user's: what they did (actor) or what was done to them (subject).</summary>
public sealed record UserAuditView(long Sequence, DateTimeOffset Time, string Kind, string Role, Guid Subject, string Actor, RequestStatus OldStatus, RequestStatus NewStatus, string CorrelationId, string Detail) : IReportRow
{
    public static IReadOnlyList<string> Columns { get; } = ["Sequence", "Time (UTC)", "Kind", "Role", "Subject", "Actor", "Old status", "New status", "Correlation", "Detail"];

    public IReadOnlyList<string> Cells() =>
        [Sequence.ToString(CultureInfo.InvariantCulture), Reports.Format(Time), Kind, Role, Subject.ToString("D"), Actor, OldStatus.ToString(), NewStatus.ToString(), CorrelationId, Detail];
}

/// <summary>
/// The managers' reports (issue #21.3; FIM CM shipped certificate expiry, smart card and request
/// reports): what expires within N days, cards by status, requests by type and status over a
/// period, templates and their settings, one user's audit. Every input is checked here, so that
/// the CLI and the portal refuse the same things the same way (ValidationFailed, a 400 in the
/// portal); who may read them is the front-end's question, answered by
/// <see cref="AccessPolicy.MaySeeReportsAsync"/>. Lists come a page at a time behind an opaque
/// continuation; <see cref="AllAsync{T}"/> walks them for an export.
/// </summary>
public sealed class Reports
{
    /// <summary>The most rows one page may ask for, whatever the caller says.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>The furthest ahead the expiry report looks: ten years, past any certificate OpenCM issues.</summary>
    public const int MaxDays = 3650;

    private readonly IReportStore _store;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly TimeProvider _clock;

    public Reports(IReportStore store, ITemplateStore templates, IDirectory directory, TimeProvider clock)
    {
        _store = store;
        _templates = templates;
        _directory = directory;
        _clock = clock;
    }

    /// <summary>How a report writes a time: UTC, to the second, sortable.</summary>
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>A page size as asked, clamped to 1..<see cref="MaxPageSize"/>.</summary>
    public static int Clamp(int pageSize) => Math.Clamp(pageSize, 1, MaxPageSize);

    /// <summary>The days of the expiry report as given (text from a query string or a switch): a whole number from 1 to <see cref="MaxDays"/>.</summary>
    public static int ParseDays(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var days) && days is >= 1 and <= MaxDays
            ? days
            : throw Invalid("days", $"The number of days is a whole number from 1 to {MaxDays}.");

    /// <summary>
    /// A period as given: <paramref name="from"/> and <paramref name="to"/> are dates (yyyy-MM-dd,
    /// UTC, both days included) or ISO 8601 times with an offset (to excluded). Without
    /// <paramref name="to"/>, up to now; without <paramref name="from"/>, the 30 days before.
    /// </summary>
    public (DateTimeOffset From, DateTimeOffset To) ParsePeriod(string? from, string? to)
    {
        var end = string.IsNullOrWhiteSpace(to) ? _clock.GetUtcNow() : Moment(to, "to", endOfDay: true);
        var start = string.IsNullOrWhiteSpace(from) ? end.AddDays(-30) : Moment(from, "from", endOfDay: false);
        return start < end ? (start, end) : throw Invalid("from", "The period's start (from) must come before its end (to).");
    }

    private static DateTimeOffset Moment(string text, string field, bool endOfDay)
    {
        if (text.Length <= 64 && DateTime.TryParseExact(text.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
            && day.Year is > 1 and < 9999)
        {
            var midnight = new DateTimeOffset(day.Ticks, TimeSpan.Zero);
            return endOfDay ? midnight.AddDays(1) : midnight;
        }

        if (text.Length <= 64 && DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var moment)
            && moment.UtcDateTime.Year is > 1 and < 9999)
        {
            return moment.ToUniversalTime();
        }

        throw Invalid(field, $"The period's {(field == "from" ? "start" : "end")} is a date (yyyy-MM-dd) or an ISO 8601 time.");
    }

    /// <summary>Certificates in force that expire within <paramref name="days"/> days from now, soonest first.</summary>
    public async Task<ReportPage<ExpiringCertificateView>> ExpiringAsync(int days, string? next, int pageSize, CancellationToken ct = default)
    {
        if (days is < 1 or > MaxDays)
        {
            throw Invalid("days", $"The number of days is a whole number from 1 to {MaxDays}.");
        }

        (DateTimeOffset, string)? after = null;
        if (next is not null)
        {
            // The continuation is "<notAfter ticks>.<serial hex>", the last row of the page before.
            var dot = next.IndexOf('.', StringComparison.Ordinal);
            after = dot > 0 && next.Length <= 100
                && long.TryParse(next.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && ticks <= DateTimeOffset.MaxValue.UtcTicks
                && next[(dot + 1)..] is { Length: > 0 } serial && serial.All(char.IsAsciiHexDigitUpper)
                    ? (new DateTimeOffset(ticks, TimeSpan.Zero), serial)
                    : throw Invalid("next", "This is not a continuation a report page gave; start again from the first page.");
        }

        var now = _clock.GetUtcNow();
        var size = Clamp(pageSize);
        var rows = await _store.ExpiringAsync(now, now.AddDays(days), after, size + 1, ct).ConfigureAwait(false);
        var names = new Names(_directory);
        var items = new List<ExpiringCertificateView>(Math.Min(rows.Count, size));
        foreach (var r in rows.Take(size))
        {
            items.Add(new ExpiringCertificateView(r.SerialHex, r.NotAfter, (int)Math.Floor((r.NotAfter - now).TotalDays), await names.OfAsync(r.UserUuid, ct).ConfigureAwait(false),
                r.CertificateTemplate, r.ProfileUuid, r.Status));
        }

        var last = items.Count > 0 ? items[^1] : null;
        return new(items, rows.Count > size && last is not null ? $"{last.NotAfter.UtcTicks.ToString(CultureInfo.InvariantCulture)}.{last.SerialHex}" : null);
    }

    /// <summary>Every card record counted by status and profile template.</summary>
    public async Task<IReadOnlyList<CardCountView>> CardsAsync(CancellationToken ct = default)
    {
        var names = (await _templates.ListAsync(ct).ConfigureAwait(false)).ToDictionary(t => t.Uuid, t => t.Name);
        return [.. (await _store.CardsByStatusAsync(ct).ConfigureAwait(false))
            .Select(r => new CardCountView(r.Status, names.GetValueOrDefault(r.TemplateUuid) ?? r.TemplateUuid.ToString("D"), r.Count))];
    }

    /// <summary>Requests submitted in the period counted by type and status.</summary>
    public async Task<IReadOnlyList<RequestCountView>> RequestsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default)
    {
        if (from >= to)
        {
            throw Invalid("from", "The period's start (from) must come before its end (to).");
        }

        return [.. (await _store.RequestsByTypeAndStatusAsync(from, to, ct).ConfigureAwait(false)).Select(r => new RequestCountView(r.Type, r.Status, r.Count))];
    }

    /// <summary>Profile templates by name with their settings; <paramref name="next"/> is where the page before ended.</summary>
    public async Task<ReportPage<TemplateView>> TemplatesAsync(string? next, int pageSize, CancellationToken ct = default)
    {
        // Templates are made by administrators, a few dozen at most: read whole, cut into pages here.
        var skip = next is null ? 0
            : int.TryParse(next, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw Invalid("next", "This is not a continuation a report page gave; start again from the first page.");
        var all = (await _templates.ListAsync(ct).ConfigureAwait(false))
            .OrderBy(t => t.Name, StringComparer.OrdinalIgnoreCase).ThenBy(t => t.Uuid).ToList();
        var size = Clamp(pageSize);
        var items = all.Skip(skip).Take(size).Select(Describe).ToList();
        return new(items, skip < all.Count - size ? (skip + size).ToString(CultureInfo.InvariantCulture) : null);
    }

    private static TemplateView Describe(ProfileTemplate t)
    {
        var kind = t.IsVirtualSmartcardProfileTemplate ? "virtual smart card" : t.IsSmartcardProfileTemplate ? "smart card" : "software";
        var policies = string.Join("; ", t.Policies.Where(p => p.Value.Enabled).OrderBy(p => p.Key.ToString(), StringComparer.Ordinal)
            .Select(p => $"{p.Key} ({p.Value.ApprovalsNeeded.ToString(CultureInfo.InvariantCulture)}{(p.Value.SelfServiceEnabled ? ", self-service" : "")})"));
        return new(t.Name, t.Uuid, t.Version, kind, policies, string.Join("; ", t.CertificateTemplates.Select(c => c.CommonName)));
    }

    /// <summary>
    /// The audit events of the user named <paramref name="userName"/>, newest first: what they did
    /// and what was done to them. An unknown name is NotFound.
    /// </summary>
    public async Task<ReportPage<UserAuditView>> AuditOfUserAsync(string userName, string? next, int pageSize, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(userName) || System.Text.Encoding.UTF8.GetByteCount(userName) > 256)
        {
            throw Invalid("user", "Name a directory user.");
        }

        long? before = next is null ? null
            : long.TryParse(next, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0 ? seq
            : throw Invalid("next", "This is not a continuation a report page gave; start again from the first page.");
        var user = await _directory.FindByNameAsync(userName.Trim(), ct).ConfigureAwait(false) is { Kind: PrincipalKind.User } u
            ? u
            : throw new OpenCmException(DomainError.NotFound($"No user named '{userName.Trim()}'."));
        var size = Clamp(pageSize);
        var events = await _store.AuditOfUserAsync(user.Uuid, before, size + 1, ct).ConfigureAwait(false);
        var names = new Names(_directory);
        var items = new List<UserAuditView>(Math.Min(events.Count, size));
        foreach (var e in events.Take(size))
        {
            var role = (e.Event.Actor == user.Uuid, e.Event.SubjectId == user.Uuid) switch
            {
                (true, true) => "actor, subject",
                (true, false) => "actor",
                _ => "subject",
            };
            items.Add(new UserAuditView(e.Sequence, e.Event.Time, e.Event.Kind, role, e.Event.SubjectId, await names.OfAsync(e.Event.Actor, ct).ConfigureAwait(false),
                e.Event.OldStatus, e.Event.NewStatus, e.Event.CorrelationId, e.Event.Detail));
        }

        return new(items, events.Count > size && items.Count > 0 ? items[^1].Sequence.ToString(CultureInfo.InvariantCulture) : null);
    }

    /// <summary>Every row of a paged report, page after page (an export); stops after <paramref name="maxRows"/> rows.</summary>
    public static async IAsyncEnumerable<T> AllAsync<T>(Func<string?, Task<ReportPage<T>>> page, int maxRows = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(page);
        var count = 0;
        string? next = null;
        do
        {
            var p = await page(next).ConfigureAwait(false);
            foreach (var item in p.Items)
            {
                if (count++ >= maxRows)
                {
                    yield break;
                }

                yield return item;
            }

            next = p.Next;
        }
        while (next is not null);
    }

    private static OpenCmException Invalid(string field, string detail) => new(DomainError.Validation(field, detail));

    // Directory names of the GUIDs on one page, each asked once; a GUID the directory does not know is shown as itself.
    private sealed class Names(IDirectory directory)
    {
        private readonly Dictionary<Guid, string> _known = [];

        public async Task<string> OfAsync(Guid id, CancellationToken ct)
        {
            if (!_known.TryGetValue(id, out var name))
            {
                name = id == AuditContext.LocalOperatorId ? "local-admin"
                    : id == Guid.Empty ? "(server)"
                    : (await directory.FindAsync(id, ct).ConfigureAwait(false))?.Name ?? id.ToString("D");
                _known[id] = name;
            }

            return name;
        }
    }
}

/// <summary>
/// A report as CSV (RFC 4180) that a spreadsheet opens safely: a cell that begins with
/// <c>= + - @</c>, a tab or a carriage return is prefixed with <c>'</c>, so that it is never
/// taken for a formula (OWASP, CSV injection); cells with a comma, quote or line break are quoted.
/// </summary>
public static class ReportCsv
{
    public static string Line(IEnumerable<string> cells) => string.Join(",", cells.Select(Cell));

    public static string Cell(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>Writes the header and every row, CRLF-terminated as RFC 4180 says.</summary>
    public static async Task WriteAsync<T>(TextWriter writer, IAsyncEnumerable<T> rows, CancellationToken ct = default)
        where T : IReportRow
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(rows);
        await writer.WriteAsync(Line(T.Columns) + "\r\n").ConfigureAwait(false);
        await foreach (var row in rows.WithCancellation(ct).ConfigureAwait(false))
        {
            await writer.WriteAsync(Line(row.Cells()) + "\r\n").ConfigureAwait(false);
        }
    }
}
