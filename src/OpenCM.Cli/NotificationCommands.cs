using System.CommandLine;
using System.Globalization;
using OpenCM.Application;

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
        var format = Output.FormatOption();
        var list = new Command("list", "List deliveries, newest first: when, channel, event, receiver, status, tries and the last error.")
        {
            data.Data, data.Database, data.Connection, failed, top, format,
        };
        list.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var rows = parse.GetValue(top);
            if (rows is < 1 or > 10_000)
            {
                throw new CliException("--top is 1 to 10000");
            }

            var chosen = Output.Parse(parse.GetValue(format));
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var log = await app.Services.GetRequiredService<INotificationOutbox>().ListAsync(parse.GetValue(failed), rows, ct);
            await io.WriteListAsync(chosen, log, OutputWriter.Local<Delivery>(),
            [
                new("Created", d => Time(d.Created)),
                new("Channel", d => d.Channel),
                new("Event", d => d.EventType),
                new("Target", d => d.Target),
                new("Status", d => d.Status.ToString()),
                new("Attempts", d => d.Attempts.ToString(CultureInfo.InvariantCulture)),
                new("Finished", d => d.Finished is { } f ? Time(f) : "-"),
                new("Last error", d => d.LastError ?? ""),
                new("Id", d => d.Id),
            ], ct);
            return OpenCmCli.Ok;
        }));
        notifications.Subcommands.Add(list);
        return notifications;
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
