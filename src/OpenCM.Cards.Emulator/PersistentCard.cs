namespace OpenCM.Cards.Emulator;

/// <summary>
/// A <see cref="GidsApplet"/> whose state is written to its state file after every command that
/// changed it (a PIN try counts: restarting the emulator must not give tries back), so that the
/// card survives restarts as a card survives being pulled.
/// </summary>
public sealed class PersistentCard : IApduProcessor
{
    private readonly string? _path;

    /// <summary>A card saved to <paramref name="path"/>, or kept only in memory when it is null.</summary>
    public PersistentCard(GidsApplet card, string? path)
    {
        ArgumentNullException.ThrowIfNull(card);
        Card = card;
        _path = path;
    }

    public GidsApplet Card { get; }

    public byte[] Atr => Card.Atr;

    public void Reset() => Card.Reset();

    public byte[] Process(ReadOnlySpan<byte> command)
    {
        var answer = Card.Process(command);
        if (Card.TakeChanges() && !TrySave())
        {
            // The card's memory failed to keep the change: ISO 7816-4's 6581.
            return [0x65, 0x81];
        }

        return answer;
    }

    /// <summary>Writes the state now (on stop); false when the file could not be written.</summary>
    public bool TrySave()
    {
        if (_path is null)
        {
            return true;
        }

        try
        {
            GidsStateFile.Save(_path, Card.ExportState());
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return false;
        }
    }
}
