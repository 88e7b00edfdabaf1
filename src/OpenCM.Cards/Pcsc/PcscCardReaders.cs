using System.Text;

namespace OpenCM.Cards.Pcsc;

/// <summary>
/// The smart card readers on this computer through PC/SC (issue #22.2): pcsc-lite's pcscd on Linux
/// and the BSDs, reached by libpcsclite (<c>opencm card readers</c> lists them). Opening a reader
/// connects shared to its card and hands the <see cref="PcscChannel"/> to the card family's driver,
/// given to the constructor (GIDS first). Each channel has a PC/SC context of its own, so a
/// channel blocked waiting for another program's transaction holds no one else up.
/// </summary>
public sealed class PcscCardReaders : ICardReaders
{
    /// <summary>What a Linux or BSD computer without pcsc-lite is told.</summary>
    public const string NotInstalled =
        "PC/SC is not available: install pcscd and its client library libpcsclite.so.1 (Debian and Ubuntu: apt-get install pcscd; Fedora: dnf install pcsc-lite) and a reader's driver (most USB readers: libccid).";

    /// <summary>What Windows and macOS are told: their PC/SC is not pcsc-lite's ABI.</summary>
    public const string NotThisSystem =
        "PC/SC is not available here: OpenCM's card client speaks pcsc-lite (Linux, BSD). On Windows, MIM CM's own card clients speak OpenCM's API.";

    private readonly IPcscApi _api;
    private readonly Func<IApduChannel, ICardDevice> _driver;
    private readonly TimeSpan _transactionWait;

    /// <summary>The readers, whose cards <paramref name="driver"/> makes card devices of (it owns the channel it is given).</summary>
    public PcscCardReaders(Func<IApduChannel, ICardDevice> driver)
        : this(LibPcscLite.Instance, driver)
    {
    }

    /// <summary>As the other constructor, with how long a channel waits for a card another program holds (<see cref="PcscChannel.DefaultTransactionWait"/>).</summary>
    public PcscCardReaders(Func<IApduChannel, ICardDevice> driver, TimeSpan transactionWait)
        : this(LibPcscLite.Instance, driver, transactionWait)
    {
    }

    internal PcscCardReaders(IPcscApi api, Func<IApduChannel, ICardDevice> driver, TimeSpan? transactionWait = null)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(driver);
        // A CancellationTokenSource's delay: Timeout.InfiniteTimeSpan (wait as pcsc-lite does), or up to 49 days.
        if (transactionWait is { } wait && wait != Timeout.InfiniteTimeSpan && (wait <= TimeSpan.Zero || wait.TotalMilliseconds >= uint.MaxValue - 1))
        {
            throw new ArgumentOutOfRangeException(nameof(transactionWait), "A wait for the card is positive and under 49 days, or Timeout.InfiniteTimeSpan.");
        }

        _api = api;
        _driver = driver;
        _transactionWait = transactionWait ?? PcscChannel.DefaultTransactionWait;
    }

    public IReadOnlyList<string> List()
    {
        var context = EstablishContext();
        try
        {
            return ListReaders(context);
        }
        finally
        {
            _ = _api.ReleaseContext(context);
        }
    }

    public ICardDevice Open(string reader)
    {
        var channel = OpenChannel(reader);
        try
        {
            return _driver(channel);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Connects to the card in <paramref name="reader"/> (shared, T=0 or T=1) and reads its
    /// answer-to-reset: <see cref="CardRefusal.NoReader"/> when no reader has that name (the
    /// message lists those there are), <see cref="CardRefusal.NoCard"/> when it is empty.
    /// </summary>
    public PcscChannel OpenChannel(string reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var context = EstablishContext();
        var connected = false;
        nint card = 0;
        try
        {
            // PC/SC names are C strings: a NUL would name another reader than the one asked for.
            if (reader.Length == 0 || reader.Contains('\0', StringComparison.Ordinal))
            {
                throw UnknownReader(context, reader, PcscErrors.UnknownReader);
            }

            var rv = _api.Connect(context, reader, out card, out var protocol);
            if (rv is PcscErrors.UnknownReader or PcscErrors.NoReadersAvailable)
            {
                throw UnknownReader(context, reader, rv);
            }

            Check(rv, reader, PcscStage.Connect);
            connected = true;
            Check(_api.Status(card, out var atr), reader, PcscStage.Connect);
            if (atr.Length == 0)
            {
                throw PcscErrors.ToException(PcscErrors.InvalidAtr, reader, PcscStage.Connect);
            }

            return new PcscChannel(_api, context, card, protocol, reader, atr, _transactionWait);
        }
        catch
        {
            if (connected)
            {
                _ = _api.Disconnect(card);
            }

            _ = _api.ReleaseContext(context);
            throw;
        }
    }

    /// <summary>
    /// Names from PC/SC's multi-string: UTF-8 names, each ended by a NUL, the list by an empty
    /// one. A list without its last NUL ends where the bytes do; nothing after the empty name counts.
    /// </summary>
    internal static IReadOnlyList<string> ParseMultiString(ReadOnlySpan<byte> multiString)
    {
        var names = new List<string>();
        while (!multiString.IsEmpty)
        {
            var end = multiString.IndexOf((byte)0);
            var name = end < 0 ? multiString : multiString[..end];
            if (name.IsEmpty)
            {
                break;
            }

            names.Add(Encoding.UTF8.GetString(name));
            multiString = end < 0 ? default : multiString[(end + 1)..];
        }

        return names;
    }

    private nint EstablishContext()
    {
        uint rv;
        nint context;
        try
        {
            rv = _api.EstablishContext(out context);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            var message = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? NotThisSystem : NotInstalled;
            throw new CardException(CardRefusal.NoReader, message, e);
        }

        Check(rv, null, PcscStage.Service);
        return context;
    }

    private IReadOnlyList<string> ListReaders(nint context)
    {
        var rv = _api.ListReaders(context, out var multiString);
        if (rv == PcscErrors.NoReadersAvailable)
        {
            return [];
        }

        Check(rv, null, PcscStage.Service);
        return ParseMultiString(multiString);
    }

    // "No reader named X", saying which there are: the name was typed by someone who can then pick one.
    private CardException UnknownReader(nint context, string reader, uint code)
    {
        IReadOnlyList<string> readers;
        try
        {
            readers = ListReaders(context);
        }
        catch (CardException)
        {
            readers = [];
        }

        var there = readers.Count == 0
            ? "no reader is attached"
            : "the readers are " + string.Join(", ", readers.Select(r => $"'{r}'"));
        return new CardException(CardRefusal.NoReader, $"No smart card reader is named '{reader}': {there} ({PcscErrors.Name(code)}).");
    }

    private static void Check(uint rv, string? reader, PcscStage stage)
    {
        if (rv != PcscErrors.Success)
        {
            throw PcscErrors.ToException(rv, reader, stage);
        }
    }
}
