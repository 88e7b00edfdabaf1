using OpenCM.Cards;

namespace OpenCM.Cards.Tests;

/// <summary>
/// A hand-written card for the PC/SC tests: its ATR, and an answer for each command the test
/// scripts (anything else is 6A82, file not found, as a card says to OpenSC's probing). It records
/// every command it was sent.
/// </summary>
internal sealed class ScriptedCard(string atrHex, Func<byte[], byte[]?> answer) : IApduProcessor
{
    private readonly List<byte[]> _commands = [];

    public byte[] Atr { get; } = Convert.FromHexString(atrHex);

    public IReadOnlyList<byte[]> Commands
    {
        get
        {
            lock (_commands)
            {
                return [.. _commands];
            }
        }
    }

    public void Reset()
    {
    }

    public byte[] Process(ReadOnlySpan<byte> command)
    {
        var copy = command.ToArray();
        lock (_commands)
        {
            _commands.Add(copy);
        }

        return answer(copy) ?? [0x6A, 0x82];
    }

    public static bool Is(byte[] command, string hex) => Convert.ToHexString(command) == hex;
}
