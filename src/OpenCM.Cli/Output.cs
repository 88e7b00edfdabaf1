using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>How a command prints what it read: a table for people, JSON for scripts (issue #23.1).</summary>
internal enum OutputFormat
{
    Table,
    Json,
}

/// <summary>
/// The one <c>--format</c> option every command that prints data carries, and the rules shared by
/// all of them (issue #23.1): <c>table</c> (the default) or <c>json</c>, the option first, then
/// <c>OPENCM_FORMAT</c>. JSON is the wire's shape where the data came from the server
/// (<see cref="OpenCM.Contracts.WireJson"/>), camelCase properties for what a command read locally.
/// A table is drawn with borders only on a terminal; written to a pipe or a file it is plain
/// aligned columns, no box characters and no padding to a fixed width, so that <c>awk</c>,
/// <c>cut</c> and <c>grep</c> read it. Results go to stdout; progress and notices to stderr.
/// </summary>
internal static class Output
{
    /// <summary>The environment variable that sets the format when --format is not given.</summary>
    public const string EnvironmentVariable = "OPENCM_FORMAT";

    /// <summary>Camel-case JSON for data a command reads from the store itself (reports, users, audit), not from the wire.</summary>
    public static readonly JsonSerializerOptions LocalJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    public static Option<string?> FormatOption(string also = "") => new("--format")
    {
        Description = $"table or json{also}; defaults to ${EnvironmentVariable}, else table.",
        HelpName = "table|json",
    };

    /// <summary>The format chosen by --format or OPENCM_FORMAT; anything else is a usage error that names both.</summary>
    public static OutputFormat Parse(string? option) => Parse(option, Environment.GetEnvironmentVariable);

    /// <summary>As <see cref="Parse(string?)"/>, the environment read through <paramref name="environment"/> (tests give their own).</summary>
    public static OutputFormat Parse(string? option, Func<string, string?> environment)
    {
        var (text, from) = option is not null ? (option, "--format") : (environment(EnvironmentVariable), EnvironmentVariable);
        return text?.Trim().ToLowerInvariant() switch
        {
            null or "" => OutputFormat.Table,
            "table" => OutputFormat.Table,
            "json" => OutputFormat.Json,
            _ => throw new CliException($"{from} is table or json (not '{text}')"),
        };
    }
}

/// <summary>One column of a list: its header and how a row fills it.</summary>
internal readonly record struct Column<T>(string Header, Func<T, string?> Cell);

/// <summary>Writes lists and single objects in the chosen <see cref="OutputFormat"/> (issue #23.1).</summary>
internal static class OutputWriter
{
    /// <summary>A list as a table (the columns) or a JSON array (each item whole, through <paramref name="json"/>).</summary>
    public static async Task WriteListAsync<T>(this CliIo io, OutputFormat format, IAsyncEnumerable<T> items, JsonTypeInfo<T> json, IReadOnlyList<Column<T>> columns, CancellationToken ct = default)
    {
        if (format == OutputFormat.Json)
        {
            await WriteJsonArrayAsync(io.Out, items, json, ct);
            return;
        }

        var rows = new List<string[]>();
        await foreach (var item in items.WithCancellation(ct))
        {
            rows.Add([.. columns.Select(c => c.Cell(item) ?? "")]);
        }

        await io.WriteTableAsync([.. columns.Select(c => c.Header)], rows);
    }

    public static Task WriteListAsync<T>(this CliIo io, OutputFormat format, IEnumerable<T> items, JsonTypeInfo<T> json, IReadOnlyList<Column<T>> columns, CancellationToken ct = default) =>
        io.WriteListAsync(format, Each(items), json, columns, ct);

    /// <summary>One object as name/value lines (a table) or one JSON object.</summary>
    public static async Task WriteItemAsync<T>(this CliIo io, OutputFormat format, T item, JsonTypeInfo<T> json, IEnumerable<(string Name, string? Value)> fields)
    {
        if (format == OutputFormat.Json)
        {
            await io.Out.WriteLineAsync(Serialize(item, json));
            return;
        }

        await io.WriteTableAsync(null, [.. fields.Select(f => new[] { f.Name, f.Value ?? "" })]);
    }

    /// <summary>
    /// A table: with borders on a terminal (Spectre.Console), otherwise plain columns separated by
    /// two spaces, each as wide as its widest cell, the last one unpadded. <paramref name="headers"/>
    /// null is a name/value list without a header line.
    /// </summary>
    public static async Task WriteTableAsync(this CliIo io, IReadOnlyList<string>? headers, IReadOnlyList<string[]> rows)
    {
        if (io.IsTerminal)
        {
            if (headers is null)
            {
                var grid = new Grid().AddColumn().AddColumn();
                foreach (var row in rows)
                {
                    grid.AddRow([.. row.Select(c => new Text(c))]);
                }

                io.Console.Write(grid);
                return;
            }

            var table = new Table().AddColumns([.. headers.Select(h => new TableColumn(Markup.Escape(h)))]);
            foreach (var row in rows)
            {
                table.AddRow([.. row.Select(c => new Text(c))]);
            }

            io.Console.Write(table);
            return;
        }

        var lines = headers is null ? rows : [[.. headers], .. rows];
        if (lines.Count == 0)
        {
            return;
        }

        var columns = lines.Max(l => l.Length);
        var widths = new int[columns];
        foreach (var line in lines)
        {
            for (var i = 0; i < line.Length; i++)
            {
                widths[i] = Math.Max(widths[i], line[i].Length);
            }
        }

        var text = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            var row = new System.Text.StringBuilder();
            for (var i = 0; i < line.Length; i++)
            {
                // One line per row whatever a cell holds: a line break inside a cell would split the row for awk.
                var cell = line[i].ReplaceLineEndings(" ");
                row.Append(i == line.Length - 1 ? cell : cell.PadRight(widths[i] + 2));
            }

            // Empty trailing cells leave no trailing blanks.
            text.Append(row.ToString().TrimEnd()).Append('\n');
        }

        await io.Out.WriteAsync(text.ToString());
    }

    /// <summary>One value as indented JSON through its type info (the wire's names and converters).</summary>
    public static string Serialize<T>(T value, JsonTypeInfo<T> json)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            JsonSerializer.Serialize(writer, value, json);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>One indented JSON object whose properties each write themselves (several wire answers shown together).</summary>
    public static string Compose(params (string Name, Action<Utf8JsonWriter> Write)[] properties)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (var (name, write) in properties)
            {
                writer.WritePropertyName(name);
                write(writer);
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The type info for local (non-wire) data: camelCase through <see cref="Output.LocalJson"/>.</summary>
    public static JsonTypeInfo<T> Local<T>() => (JsonTypeInfo<T>)Output.LocalJson.GetTypeInfo(typeof(T));

    // A JSON array written as the items come, so a long list never sits in memory whole.
    private static async Task WriteJsonArrayAsync<T>(TextWriter output, IAsyncEnumerable<T> items, JsonTypeInfo<T> json, CancellationToken ct)
    {
        await output.WriteAsync("[");
        var first = true;
        await foreach (var item in items.WithCancellation(ct))
        {
            var text = Serialize(item, json).ReplaceLineEndings("\n  ");
            await output.WriteAsync((first ? "\n  " : ",\n  ") + text);
            first = false;
        }

        await output.WriteLineAsync(first ? "]" : "\n]");
    }

#pragma warning disable CS1998 // an async iterator over a list already read
    private static async IAsyncEnumerable<T> Each<T>(IEnumerable<T> items)
#pragma warning restore CS1998
    {
        foreach (var item in items)
        {
            yield return item;
        }
    }
}
