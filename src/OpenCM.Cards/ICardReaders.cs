namespace OpenCM.Cards;

/// <summary>
/// The smart card readers on this computer (issue #22.2): PC/SC in the field (<c>opencm card
/// readers</c>, <c>opencm card enroll --reader NAME</c>). Opening a reader connects to the card in
/// it and picks the card family's driver (GIDS first); a reader with no card, or a card of no
/// family this client knows, is a <see cref="CardException"/> with a kind that says so.
/// </summary>
public interface ICardReaders
{
    /// <summary>The readers' names, as PC/SC lists them; empty when none is attached.</summary>
    IReadOnlyList<string> List();

    /// <summary>The card in <paramref name="reader"/>, ready for a card client.</summary>
    ICardDevice Open(string reader);
}
