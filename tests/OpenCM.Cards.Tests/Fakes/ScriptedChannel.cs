using OpenCM.Cards;

namespace OpenCM.Cards.Tests.Fakes;

/// <summary>
/// A hand-written <see cref="IApduChannel"/> that plays a card from a script: each step names the
/// exact command it expects (hex) or checks it with a function, and gives the answer. Records
/// whether every command came inside a transaction.
/// </summary>
internal sealed class ScriptedChannel(string atr = "3B8D0180FBA000000397425446590301C8") : IApduChannel
{
    private readonly Queue<(string? Expected, Func<byte[], byte[]> Answer)> _script = new();
    private int _depth;

    public List<byte[]> Sent { get; } = [];

    public bool EveryCommandInATransaction { get; private set; } = true;

    public bool Disposed { get; private set; }

    public byte[] Atr => Convert.FromHexString(atr);

    /// <summary>Expects exactly <paramref name="command"/> and answers <paramref name="answer"/> (both hex).</summary>
    public ScriptedChannel On(string command, string answer) => On(command, _ => Convert.FromHexString(answer));

    public ScriptedChannel On(string? command, Func<byte[], byte[]> answer)
    {
        _script.Enqueue((command, answer));
        return this;
    }

    /// <summary>The card is pulled when <paramref name="command"/> arrives.</summary>
    public ScriptedChannel PulledAt(string command) =>
        On(command, _ => throw new CardException(CardRefusal.CardRemoved, "The card was removed."));

    public int Remaining => _script.Count;

    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        var bytes = command.ToArray();
        Sent.Add(bytes);
        if (_depth == 0)
        {
            EveryCommandInATransaction = false;
        }

        Assert.True(_script.Count > 0, $"Unexpected command {Convert.ToHexString(bytes)}");
        var (expected, answer) = _script.Dequeue();
        if (expected is not null)
        {
            Assert.Equal(expected, Convert.ToHexString(bytes));
        }

        return answer(bytes);
    }

    public IDisposable BeginTransaction()
    {
        _depth++;
        return new Scope(this);
    }

    public void Dispose() => Disposed = true;

    private sealed class Scope(ScriptedChannel channel) : IDisposable
    {
        private bool _ended;

        public void Dispose()
        {
            if (!_ended)
            {
                _ended = true;
                channel._depth--;
            }
        }
    }
}
