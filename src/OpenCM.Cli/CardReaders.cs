using OpenCM.Cards;

namespace OpenCM.Cli;

/// <summary>
/// The one place the <c>opencm</c> executable gets this computer's smart card readers (issue #22):
/// <c>opencm card readers</c>, <c>enroll</c>, <c>unblock</c>, <c>renew</c>, <c>retire</c> on a
/// reader. In production this is PC/SC over libpcsclite; tests hand their own readers to
/// <see cref="OpenCmCli"/> instead (there is no option or variable that swaps it).
/// </summary>
internal static class CardReaders
{
    // TODO(#22): return the PC/SC readers (libpcsclite) with the GIDS driver once they land; until
    // then this build knows no readers, and says so.
    public static ICardReaders Create() => new None();

    private sealed class None : ICardReaders
    {
        public IReadOnlyList<string> List() => [];

        public ICardDevice Open(string reader) =>
            throw new CardException(CardRefusal.NoReader, "this build of opencm has no PC/SC support");
    }
}
