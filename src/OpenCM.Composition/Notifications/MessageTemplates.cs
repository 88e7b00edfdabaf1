using System.Reflection;
using OpenCM.Application;

namespace OpenCM.Composition;

/// <summary>
/// Message texts: a file <c>NAME.txt</c> in <see cref="NotificationOptions.TemplatesPath"/> when
/// there is one (read each time, so an operator's edit takes effect without a restart), else the
/// text shipped under samples/notifications.
/// </summary>
public sealed class MessageTemplates : IMessageTemplates
{
    private readonly NotificationOptions _options;

    public MessageTemplates(NotificationOptions options) => _options = options;

    public string? Find(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '-')))
        {
            return null;
        }

        if (!string.IsNullOrWhiteSpace(_options.TemplatesPath) && Path.Combine(_options.TemplatesPath, name + ".txt") is var file && File.Exists(file))
        {
            return File.ReadAllText(file);
        }

        using var shipped = Assembly.GetExecutingAssembly().GetManifestResourceStream($"OpenCM.Samples.Notifications.{name}.txt");
        if (shipped is null)
        {
            return null;
        }

        using var reader = new StreamReader(shipped);
        return reader.ReadToEnd();
    }
}
