namespace OpenCM.Security.Sddl;

/// <summary>A malformed or unsupported SDDL string; <see cref="Position"/> is the 0-based offset of the fault.</summary>
public sealed class SddlParseException : FormatException
{
    public SddlParseException(string reason, int position)
        : base($"Invalid SDDL at position {position}: {reason}")
    {
        Reason = reason;
        Position = position;
    }

    public SddlParseException()
        : this("malformed descriptor", 0)
    {
    }

    public SddlParseException(string message)
        : this(message, 0)
    {
    }

    public SddlParseException(string message, Exception innerException)
        : base(message, innerException) => Reason = message;

    public string Reason { get; } = "";

    public int Position { get; }
}
