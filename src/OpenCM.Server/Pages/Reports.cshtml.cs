using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Pages;

/// <summary>
/// The managers' reports (issue #21.3) as portal pages: <c>/reports/expiring</c>, <c>cards</c>,
/// <c>requests</c>, <c>templates</c> and <c>audit</c>, each a page of <see cref="ReportOptions.PageSize"/>
/// rows with an opaque <c>next</c> link, and each downloadable whole as CSV (<c>?format=csv</c>,
/// at most <see cref="ReportOptions.MaxCsvRows"/> rows, formula-safe cells). Every input from the
/// query string is checked by <see cref="Reports"/> (a 400 page naming it); to anyone but a CM
/// manager the pages do not exist (404), as the help desk.
/// </summary>
public sealed class ReportsModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly AccessPolicy _access;
    private readonly Reports _reports;
    private readonly ReportOptions _options;

    public ReportsModel(CallerResolver callers, AccessPolicy access, Reports reports, ReportOptions options)
    {
        _callers = callers;
        _access = access;
        _reports = reports;
        _options = options;
    }

    /// <summary>The reports, by the path segment that names each, with their titles.</summary>
    public static readonly IReadOnlyList<(string Name, string Title)> Known =
    [
        ("expiring", "Expiring certificates"),
        ("cards", "Smart cards by status"),
        ("requests", "Requests by type and status"),
        ("templates", "Profile templates"),
        ("audit", "A user's audit"),
    ];

    [BindProperty(SupportsGet = true)]
    public string? Report { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Days { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? To { get; set; }

    /// <summary>The user whose audit is asked (<c>?user=</c>).</summary>
    [BindProperty(SupportsGet = true, Name = "user")]
    public string? UserName { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Next { get; set; }

    [BindProperty(SupportsGet = true, Name = "format")]
    public string? Download { get; set; }

    public string Title { get; private set; } = "Reports";

    public IReadOnlyList<string> Columns { get; private set; } = [];

    public IReadOnlyList<IReadOnlyList<string>> Rows { get; private set; } = [];

    /// <summary>The continuation of the next page, when there is one.</summary>
    public string? NextPage { get; private set; }

    /// <summary>A line above the table saying what was asked (the period, the window).</summary>
    public string? Scope { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        var caller = await _callers.ResolveAsync(HttpContext, ct);
        if (!await _access.MaySeeReportsAsync(caller, ct))
        {
            return NotFound();
        }

        if (Report is null)
        {
            return Page();
        }

        if (Known.FirstOrDefault(k => k.Name == Report) is not { Name: not null } known)
        {
            return NotFound();
        }

        Title = known.Title;
        var csv = Download switch
        {
            null or "" or "html" => false,
            "csv" => true,
            _ => throw new Domain.OpenCmException(Domain.DomainError.Validation("format", "A report is downloaded with format=csv.")),
        };
        var size = Reports.Clamp(_options.PageSize);
        switch (Report)
        {
            case "expiring":
            {
                var days = Days is null ? 30 : Reports.ParseDays(Days);
                Days = days.ToString(System.Globalization.CultureInfo.InvariantCulture);
                Scope = $"Certificates in force whose validity ends within {days} days.";
                return await ShowAsync(next => _reports.ExpiringAsync(days, next, size, ct), csv);
            }

            case "cards":
                return await ShowAsync(_ => Whole(_reports.CardsAsync(ct)), csv);
            case "requests":
            {
                var (from, to) = _reports.ParsePeriod(From, To);
                Scope = $"Requests submitted from {Reports.Format(from)} to {Reports.Format(to)} UTC (end excluded).";
                return await ShowAsync(_ => Whole(_reports.RequestsAsync(from, to, ct)), csv);
            }

            case "templates":
                return await ShowAsync(next => _reports.TemplatesAsync(next, size, ct), csv);
            default:
                if (string.IsNullOrWhiteSpace(UserName))
                {
                    // The form first; nothing to show until a user is named.
                    return Page();
                }

                Scope = $"What {UserName.Trim()} did, and what was done to them, newest first.";
                return await ShowAsync(next => _reports.AuditOfUserAsync(UserName, next, size, ct), csv);
        }
    }

    private static async Task<ReportPage<T>> Whole<T>(Task<IReadOnlyList<T>> rows) => new(await rows, null);

    // One page as HTML, or (format=csv) every page up to the cap as a download. The first page is
    // read before a byte is written, so that a refused input is a 400 page, never a cut file.
    private async Task<IActionResult> ShowAsync<T>(Func<string?, Task<ReportPage<T>>> page, bool csv)
        where T : IReportRow
    {
        var first = await page(csv ? null : Next);
        if (!csv)
        {
            (Columns, Rows, NextPage) = (T.Columns, [.. first.Items.Select(i => i.Cells())], first.Next);
            return Page();
        }

        Response.ContentType = "text/csv; charset=utf-8";
        Response.Headers.ContentDisposition = $"attachment; filename=\"opencm-{Report}.csv\"";
        Response.Headers.CacheControl = "no-store";
        var max = Math.Max(1, _options.MaxCsvRows);
        await using var writer = new StreamWriter(Response.Body, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), leaveOpen: true);
        var written = 0;
        var rows = Reports.AllAsync(next => next is null ? Task.FromResult(first) : page(next), max + 1);
        await writer.WriteAsync(ReportCsv.Line(T.Columns) + "\r\n");
        await foreach (var row in rows.WithCancellation(HttpContext.RequestAborted))
        {
            if (++written > max)
            {
                await writer.WriteAsync(ReportCsv.Line([$"(cut at {max} rows: Reports:MaxCsvRows)"]) + "\r\n");
                break;
            }

            await writer.WriteAsync(ReportCsv.Line(row.Cells()) + "\r\n");
        }

        await writer.FlushAsync(HttpContext.RequestAborted);
        return new EmptyResult();
    }
}
