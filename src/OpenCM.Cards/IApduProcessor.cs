namespace OpenCM.Cards;

/// <summary>
/// The card side of APDUs: what a card emulator implements, whether it sits behind vsmartcard's
/// virtual reader (vpcd, for pcscd and OpenSC) or is handed to a driver in process.
/// </summary>
public interface IApduProcessor
{
    /// <summary>The answer-to-reset the card gives on power-up and reset.</summary>
    byte[] Atr { get; }

    /// <summary>Power off (vpcd control 0) or reset (2): the card forgets its session (selected application, authentications).</summary>
    void Reset();

    /// <summary>Answers one command APDU with a response APDU (data, then SW1 SW2). Never throws for a malformed command: it answers a status word.</summary>
    byte[] Process(ReadOnlySpan<byte> command);
}
