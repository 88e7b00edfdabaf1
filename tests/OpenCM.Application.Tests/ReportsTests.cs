using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>Issue #21.3: the reports' inputs, paging and CSV, over hand-written fakes.</summary>
public sealed class ReportsTests
{
    /// <summary>Certificates in memory, served as the SQL store serves them: window, order, keyset, limit.</summary>
    private sealed class FakeReportStore : IReportStore
    {
        public List<ExpiringCertificateRow> Certificates { get; } = [];

        public Task<IReadOnlyList<ExpiringCertificateRow>> ExpiringAsync(
            DateTimeOffset from, DateTimeOffset until, (DateTimeOffset NotAfter, string SerialHex)? after, int limit, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<ExpiringCertificateRow>>([.. Certificates
                .Where(c => c.NotAfter >= from && c.NotAfter < until)
                .Where(c => after is not { } a || c.NotAfter > a.NotAfter || (c.NotAfter == a.NotAfter && string.CompareOrdinal(c.SerialHex, a.SerialHex) > 0))
                .OrderBy(c => c.NotAfter).ThenBy(c => c.SerialHex, StringComparer.Ordinal).Take(limit)]);

        public Task<IReadOnlyList<CardCountRow>> CardsByStatusAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<CardCountRow>>([]);

        public Task<IReadOnlyList<RequestCountRow>> RequestsByTypeAndStatusAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<RequestCountRow>>([]);

        public Task<IReadOnlyList<ChainedAuditEvent>> AuditOfUserAsync(Guid user, long? before, int limit, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<ChainedAuditEvent>>([]);
    }

    private readonly FakeReportStore _store = new();
    private readonly FakeDirectory _directory = new();

    private Reports Make() => new(_store, new FakeTemplateStore(), _directory, new FakeTimeProvider(Samples.Now));

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "")]
    [InlineData("=1+1", "'=1+1")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\tx", "'\tx")]
    [InlineData("\rx", "\"'\rx\"")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"u\",\"x\")", "\"'=HYPERLINK(\"\"u\"\",\"\"x\"\")\"")]
    [InlineData("line\nbreak", "\"line\nbreak\"")]
    [InlineData("a=b", "a=b")]
    public void Csv_Cell_FormulaPrefixedQuotedWhereNeeded(string value, string cell) => Assert.Equal(cell, ReportCsv.Cell(value));

    [Theory]
    [InlineData("30", 30)]
    [InlineData("1", 1)]
    [InlineData("3650", 3650)]
    [InlineData("0", null)]
    [InlineData("-1", null)]
    [InlineData("3651", null)]
    [InlineData("+5", null)]
    [InlineData(" 5", null)]
    [InlineData("5.0", null)]
    [InlineData("99999999999999999999", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void ParseDays_Text_WholeDaysInRangeOrValidationFailed(string? text, int? days)
    {
        if (days is { } expected)
        {
            Assert.Equal(expected, OpenCM.Application.Reports.ParseDays(text));
        }
        else
        {
            Assert.Equal(("days", ErrorKind.ValidationFailed), Field(() => OpenCM.Application.Reports.ParseDays(text)));
        }
    }

    [Theory]
    [InlineData("2026-11-01", "2026-11-30", "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")]
    [InlineData(null, null, "2026-10-26T12:00:00+00:00", "2026-11-25T12:00:00+00:00")]
    [InlineData("2026-11-25T10:00:00+02:00", "2026-11-25T12:00:00Z", "2026-11-25T08:00:00+00:00", "2026-11-25T12:00:00+00:00")]
    [InlineData(null, "2026-11-30", "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")]
    public void ParsePeriod_DatesOrTimes_DaysIncludedTimesExact(string? from, string? to, string start, string end) =>
        Assert.Equal((DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture)),
            Make().ParsePeriod(from, to));

    [Theory]
    [InlineData("2026-02-30", null, "from")]
    [InlineData("yesterday", null, "from")]
    [InlineData(null, "0001-01-01", "to")]
    [InlineData("2026-12-01", "2026-11-01", "from")]
    [InlineData("2026-11-01", "2026-11-01T00:00:00Z", "from")]
    [InlineData("2026-01-01T00:00:00+99:00", null, "from")]
    public void ParsePeriod_Unusable_ValidationFailedNamingTheField(string? from, string? to, string field) =>
        Assert.Equal((field, ErrorKind.ValidationFailed), Field(() => Make().ParsePeriod(from, to)));

    [Fact]
    public async Task Expiring_FivePagesOfTwo_EveryRowOnceInOrderWithNamesAndDaysLeft()
    {
        var alice = _directory.Add("alice", PrincipalKind.User);
        for (var i = 0; i < 9; i++)
        {
            _store.Certificates.Add(new ExpiringCertificateRow($"0{i}", Samples.Now.AddDays(i / 2 + 0.5), i == 0 ? alice.Uuid : Guid.NewGuid(), "User", Guid.NewGuid(), CertificateStatus.Current, 1));
        }

        _store.Certificates.Add(new ExpiringCertificateRow("FF", Samples.Now.AddDays(31), alice.Uuid, "User", Guid.NewGuid(), CertificateStatus.Current, 1));
        var seen = new List<ExpiringCertificateView>();
        var pages = 0;
        string? next = null;
        do
        {
            var page = await Make().ExpiringAsync(30, next, 2);
            seen.AddRange(page.Items);
            next = page.Next;
            pages++;
        }
        while (next is not null);

        Assert.Equal(5, pages);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => $"0{i}"), seen.Select(s => s.SerialHex));
        Assert.Equal(("alice", 0), (seen[0].User, seen[0].DaysLeft));
        Assert.Equal(4, seen[^1].DaysLeft);
        Assert.Equal(seen[1].Cells()[3], _store.Certificates[1].UserUuid.ToString("D"));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1.")]
    [InlineData(".0A")]
    [InlineData("1.0a")]
    [InlineData("-1.0A")]
    [InlineData("3155378976000000000.0A")]
    public async Task Expiring_ForgedContinuation_ValidationFailed(string next)
    {
        var e = await Assert.ThrowsAsync<OpenCmException>(() => Make().ExpiringAsync(30, next, 10));
        Assert.Equal(("next", ErrorKind.ValidationFailed), (e.Error.Field, e.Error.Kind));
    }

    [Fact]
    public async Task AuditOfUser_UnknownUser_NotFound()
    {
        var e = await Assert.ThrowsAsync<OpenCmException>(() => Make().AuditOfUserAsync("nobody", null, 10));
        Assert.Equal(ErrorKind.NotFound, e.Error.Kind);
    }

    private static (string? Field, ErrorKind Kind) Field(Action act)
    {
        var e = Assert.Throws<OpenCmException>(act);
        return (e.Error.Field, e.Error.Kind);
    }
}
