using OpenCM.Cards;
using OpenCM.Cards.Gids;
using OpenCM.Cards.Pcsc;

namespace OpenCM.Cli;

/// <summary>
/// The one place the <c>opencm</c> executable gets this computer's smart card readers (issue #22):
/// <c>opencm card readers</c>, <c>enroll</c>, <c>unblock</c>, <c>renew</c>, <c>retire</c> on a
/// reader. In production this is PC/SC over libpcsclite; tests hand their own readers to
/// <see cref="OpenCmCli"/> instead (there is no option or variable that swaps it).
/// </summary>
internal static class CardReaders
{
    // PC/SC over libpcsclite; the card in a reader is read as a GIDS card (the first family, SPEC §8).
    // A second family (PIV) is another driver tried here.
    public static ICardReaders Create() => new PcscCardReaders(GidsCard.Open);
}
