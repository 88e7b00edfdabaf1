namespace OpenCM.Cli.Tests;

/// <summary>Standard input typed by a test while a command runs, and its output watched for the card's challenge (offline unblock).</summary>
internal sealed class Conversation : TextReader
{
    private readonly System.Threading.Channels.Channel<string> _lines = System.Threading.Channels.Channel.CreateUnbounded<string>();
    private readonly TaskCompletionSource<string> _challenge = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Conversation() => Output = new Watcher(this);

    public TextWriter Output { get; }

    public Task<string> ChallengeAsync() => _challenge.Task.WaitAsync(TimeSpan.FromSeconds(60));

    public void Say(string line) => _lines.Writer.TryWrite(line);

    public override string? ReadLine() => ReadLineAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();

    public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken) =>
        await _lines.Reader.ReadAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);

    private sealed class Watcher(Conversation owner) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.StartsWith("challenge: ", StringComparison.Ordinal) == true)
            {
                owner._challenge.TrySetResult(value);
            }
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }
    }
}
