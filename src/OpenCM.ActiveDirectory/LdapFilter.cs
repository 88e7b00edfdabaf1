using System.Globalization;
using System.Text;

namespace OpenCM.ActiveDirectory;

/// <summary>
/// Values put into LDAP filters, escaped as RFC 4515 §3 says, so that a name is data: <c>*</c>,
/// <c>a*</c> or <c>x)(objectClass=*</c> finds nobody rather than somebody (issue #19).
/// </summary>
public static class LdapFilter
{
    /// <summary>A string assertion value: <c>*</c>, <c>(</c>, <c>)</c>, <c>\</c> and NUL as <c>\XX</c>; other bytes as they are (UTF-8).</summary>
    public static string Escape(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            if (c is '*' or '(' or ')' or '\\' or '\0')
            {
                text.Append('\\').Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    /// <summary>A binary assertion value (objectGUID, objectSid): every byte as <c>\XX</c>.</summary>
    public static string Binary(ReadOnlySpan<byte> value)
    {
        var text = new StringBuilder(value.Length * 3);
        foreach (var b in value)
        {
            text.Append('\\').Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }
}
