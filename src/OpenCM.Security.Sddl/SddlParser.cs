using System.Globalization;

namespace OpenCM.Security.Sddl;

/// <summary>
/// Parses SDDL (owner <c>O:</c>, group <c>G:</c>, DACL <c>D:</c>) into a <see cref="SecurityDescriptor"/>.
/// Conditional, object, resource-attribute and SACL entries are refused with the position of the
/// fault, because OpenCM would otherwise evaluate them incorrectly (SPEC §5).
/// </summary>
public static class SddlParser
{
    /// <summary>Parses <paramref name="sddl"/>; <paramref name="domain"/> resolves domain-relative aliases such as DA.</summary>
    public static SecurityDescriptor Parse(string sddl, Sid? domain = null)
    {
        ArgumentNullException.ThrowIfNull(sddl);
        var text = sddl.TrimEnd('\0');
        Sid? owner = null, group = null;
        Acl? dacl = null;
        var seen = new HashSet<char>();
        var pos = 0;
        if (text.Length == 0)
        {
            throw new SddlParseException("the descriptor is empty", 0);
        }

        while (pos < text.Length)
        {
            if (pos + 1 >= text.Length || text[pos + 1] != ':' || !"OGDS".Contains(text[pos], StringComparison.Ordinal))
            {
                throw new SddlParseException("expected a component tag O:, G: or D:", pos);
            }

            var tag = text[pos];
            if (!seen.Add(tag))
            {
                throw new SddlParseException($"the component {tag}: appears twice", pos);
            }

            var start = pos + 2;
            var end = NextTag(text, start);
            switch (tag)
            {
                case 'O':
                    owner = ParseSid(text, start, end, domain);
                    break;
                case 'G':
                    group = ParseSid(text, start, end, domain);
                    break;
                case 'D':
                    dacl = ParseAcl(text, start, end, domain, out var isNull);
                    if (isNull)
                    {
                        dacl = null;
                    }

                    break;
                default:
                    throw new SddlParseException("system ACLs (S:) are not supported", pos);
            }

            pos = end;
        }

        // A descriptor without a D: component has a null DACL, as on Windows.
        return new SecurityDescriptor(owner, group, dacl);
    }

    /// <summary>Parses a SID or alias such as <c>BA</c>.</summary>
    public static Sid ParseSid(string text, Sid? domain = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ParseSid(text, 0, text.Length, domain);
    }

    // The next top-level component tag (a letter of OGDS followed by ':') outside parentheses.
    private static int NextTag(string text, int from)
    {
        var depth = 0;
        for (var i = from; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
            }
            else if (depth == 0 && i + 1 < text.Length && text[i + 1] == ':' && "OGDS".Contains(c, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return text.Length;
    }

    private static Sid ParseSid(string text, int start, int end, Sid? domain)
    {
        var token = text[start..end];
        if (token.Length == 0)
        {
            throw new SddlParseException("a SID is missing", start);
        }

        if (token.Length == 2 && char.IsAsciiLetterUpper(token[0]) && char.IsAsciiLetterUpper(token[1]))
        {
            if (SddlTables.WellKnown.TryGetValue(token, out var wk))
            {
                return Sid.Parse(wk);
            }

            if (SddlTables.DomainRelative.TryGetValue(token, out var rid))
            {
                return domain is { } d
                    ? Sid.InDomain(d, rid)
                    : throw new SddlParseException($"the alias {token} needs a domain SID, which is not configured", start);
            }

            throw new SddlParseException($"unknown SID alias '{token}'", start);
        }

        return Sid.TryParse(token, out var sid) ? sid : throw new SddlParseException($"'{token}' is not a SID", start);
    }

    private static Acl ParseAcl(string text, int start, int end, Sid? domain, out bool isNull)
    {
        isNull = false;
        var flags = AclFlags.None;
        var pos = start;
        while (pos < end && text[pos] != '(')
        {
            if (string.CompareOrdinal(text, pos, "NO_ACCESS_CONTROL", 0, 17) == 0)
            {
                isNull = true;
                pos += 17;
            }
            else if (text[pos] == 'P')
            {
                flags |= AclFlags.Protected;
                pos++;
            }
            else if (pos + 1 < end && text[pos] == 'A' && text[pos + 1] == 'I')
            {
                flags |= AclFlags.AutoInherited;
                pos += 2;
            }
            else if (pos + 1 < end && text[pos] == 'A' && text[pos + 1] == 'R')
            {
                flags |= AclFlags.AutoInheritRequired;
                pos += 2;
            }
            else
            {
                throw new SddlParseException($"unknown ACL flag at '{text[pos]}'", pos);
            }
        }

        var aces = new List<Ace>();
        while (pos < end)
        {
            if (text[pos] != '(')
            {
                throw new SddlParseException("expected '(' to start an ACE", pos);
            }

            var close = text.IndexOf(')', pos);
            if (close < 0 || close > end)
            {
                throw new SddlParseException("an ACE is not closed with ')'", pos);
            }

            aces.Add(ParseAce(text, pos + 1, close, domain));
            pos = close + 1;
        }

        if (isNull && aces.Count > 0)
        {
            throw new SddlParseException("NO_ACCESS_CONTROL cannot be followed by ACEs", start);
        }

        return new Acl(flags, aces);
    }

    private static Ace ParseAce(string text, int start, int end, Sid? domain)
    {
        // type;flags;rights;object_guid;inherit_object_guid;account_sid[;resource_attribute]
        var fields = new List<(int Start, int End)>();
        var fieldStart = start;
        for (var i = start; i <= end; i++)
        {
            if (i == end || text[i] == ';')
            {
                fields.Add((fieldStart, i));
                fieldStart = i + 1;
            }
        }

        var type = text[fields[0].Start..fields[0].End];
        if (SddlTables.ConditionalAceTypes.Contains(type))
        {
            throw new SddlParseException($"conditional ACEs ({type}) are not supported", fields[0].Start);
        }

        if (SddlTables.ObjectAceTypes.Contains(type))
        {
            throw new SddlParseException($"object ACEs ({type}) are not supported", fields[0].Start);
        }

        if (SddlTables.SystemAceTypes.Contains(type))
        {
            throw new SddlParseException($"the ACE type {type} belongs in a system ACL, not a DACL", fields[0].Start);
        }

        var aceType = type switch
        {
            "A" => AceType.AccessAllowed,
            "D" => AceType.AccessDenied,
            _ => throw new SddlParseException($"unknown ACE type '{type}'", fields[0].Start),
        };

        if (fields.Count == 7)
        {
            throw new SddlParseException("resource attributes in ACEs are not supported", fields[6].Start);
        }

        if (fields.Count != 6)
        {
            throw new SddlParseException($"an ACE has 6 fields separated by ';', this one has {fields.Count}", start);
        }

        var aceFlags = ParseAceFlags(text, fields[1].Start, fields[1].End);
        var mask = ParseRights(text, fields[2].Start, fields[2].End);
        for (var f = 3; f <= 4; f++)
        {
            if (fields[f].End > fields[f].Start)
            {
                throw new SddlParseException("object GUIDs (object ACEs) are not supported", fields[f].Start);
            }
        }

        var sid = ParseSid(text, fields[5].Start, fields[5].End, domain);
        return new Ace(aceType, aceFlags, mask, sid);
    }

    private static AceFlags ParseAceFlags(string text, int start, int end)
    {
        var flags = AceFlags.None;
        for (var pos = start; pos < end; pos += 2)
        {
            if (pos + 2 > end)
            {
                throw new SddlParseException("an ACE flag has two letters", pos);
            }

            var code = text.Substring(pos, 2);
            var found = SddlTables.AceFlagCodes.FirstOrDefault(c => c.Code == code);
            if (found.Code is null)
            {
                throw new SddlParseException($"unknown ACE flag '{code}'", pos);
            }

            flags |= found.Flag;
        }

        return flags;
    }

    private static uint ParseRights(string text, int start, int end)
    {
        if (end == start)
        {
            throw new SddlParseException("an ACE has no rights", start);
        }

        if (end - start > 2 && text[start] == '0' && (text[start + 1] == 'x' || text[start + 1] == 'X'))
        {
            return uint.TryParse(text.AsSpan(start + 2, end - start - 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex)
                ? hex
                : throw new SddlParseException("a hexadecimal access mask is malformed", start);
        }

        if (char.IsAsciiDigit(text[start]))
        {
            return uint.TryParse(text.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out var dec)
                ? dec
                : throw new SddlParseException("a decimal access mask is malformed", start);
        }

        uint mask = 0;
        for (var pos = start; pos < end; pos += 2)
        {
            if (pos + 2 > end)
            {
                throw new SddlParseException("a right code has two letters", pos);
            }

            var code = text.Substring(pos, 2);
            mask |= SddlTables.Rights.TryGetValue(code, out var bits)
                ? bits
                : throw new SddlParseException($"unknown right '{code}'", pos);
        }

        return mask;
    }
}
