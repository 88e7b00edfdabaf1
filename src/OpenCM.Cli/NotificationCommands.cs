using System.CommandLine;
using System.Globalization;
using OpenCM.Application;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>The delivery log of notifications and webhooks (issue #21.2), read from a data directory or database like <c>audit</c>. Safe beside a running server.</summary>
internal static class NotificationCommands
{
    public static Command Notifications(CliIo io)
    {
        var notifications = new Command("notifications", "Inspect the delivery log of e-mail notifications and webhooks.");
        var data = new StoreOptions();
        var failed = new Option<bool>("--failed") { Description = "Only deliveries given up after their last try." };
        var top = new Option<int>("--top") { Description = "The most rows shown, newest first (1 to 10000).", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List deliveries, newest first: when, channel, event, receiver, status, tries and the last error.")
        {
            data.Data, data.Database, data.Connection, failed, top,
        };
        list.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var rows = parse.GetValue(top);
            if (rows is < 1 or > 10_000)
            {
                throw new CliException("--top is 1 to 10000");
            }

            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var log = await app.Services.GetRequiredService<INotificationOutbox>().ListAsync(parse.GetValue(failed), rows, ct);
            var table = new Table().AddColumns("Created", "Channel", "Event", "Target", "Status", "Attempts", "Finished", "Last error", "Id");
            foreach (var d in log)
            {
                table.AddRow(Time(d.Created), d.Channel, d.EventType, Markup.Escape(d.Target), d.Status.ToString(), d.Attempts.ToString(CultureInfo.InvariantCulture),
                    d.Finished is { } f ? Time(f) : "-", Markup.Escape(d.LastError ?? ""), d.Id);
            }

            io.Console.Write(table);
            return OpenCmCli.Ok;
        }));
        notifications.Subcommands.Add(list);
        return notifications;
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
