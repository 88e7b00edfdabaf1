using OpenCM.Application;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm notifications list</c>: the delivery log, for a manager at the server (issue #21.2).</summary>
public sealed class NotificationCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    [Fact]
    public async Task NotificationsList_DeliveredAndFailed_ListedAndFilteredByFailed()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        await using (var db = new SqliteStorage(Path.Combine(Data, SqliteDataDirectory.DatabaseFile)))
        {
            var outbox = new SqlNotificationOutbox(db);
            await new SqlTransactions(db).RunAsync(async (uow, c) =>
            {
                await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.RequestCreated, Guid.NewGuid().ToString("D"), Samples.Now, To: "Pending"), c);
                return 0;
            });
            var e = Assert.Single(await outbox.ClaimEventsAsync(Samples.Now, Samples.Now.AddMinutes(2), 10));
            await outbox.CompleteEventAsync(e.Id, e.Event.Type, [new("msg_ok", "webhook", "https://hooks.contoso.test/a", "{}"), new("msg_bad", "email", "carol@contoso.test", "{}")], Samples.Now);
            await outbox.MarkDeliveredAsync("msg_ok", 1, Samples.Now);
            await outbox.MarkFailedAsync("msg_bad", 10, null, "SMTP 550", Samples.Now);
        }

        var all = await Cli.RunAsync("notifications", "list", "--data", Data);
        Assert.Equal(0, all.Exit);
        Assert.Contains("msg_ok", all.Out, StringComparison.Ordinal);
        Assert.Contains("msg_bad", all.Out, StringComparison.Ordinal);
        Assert.Contains("SMTP 550", all.Out, StringComparison.Ordinal);

        var failed = await Cli.RunAsync("notifications", "list", "--failed", "--data", Data);
        Assert.Equal(0, failed.Exit);
        Assert.Contains("msg_bad", failed.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("msg_ok", failed.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("10001")]
    [InlineData("many")]
    public async Task NotificationsList_BadTop_OneLineUsageError(string top)
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        var (exit, _, err) = await Cli.RunAsync("notifications", "list", "--top", top, "--data", Data);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotificationsList_MissingDataDirectory_FailsWithoutCreatingIt()
    {
        var (exit, _, err) = await Cli.RunAsync("notifications", "list", "--data", Data);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.Contains("no OpenCM data directory", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data));
    }
}
