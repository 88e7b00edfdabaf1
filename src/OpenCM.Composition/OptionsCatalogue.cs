using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.Extensions.Configuration;

namespace OpenCM.Composition;

/// <summary>An options class and the configuration section it is bound from (its <c>Section</c> constant).</summary>
public sealed record OptionsClass(string Section, Type Type);

/// <summary>One setting an options class reads: its full key (<c>Ca:Pkcs11:Library</c>) and the type it binds to.</summary>
/// <param name="IsList">A list or dictionary: keys below it (<c>Proxies:Known:0</c>) are its items.</param>
public sealed record OptionsKey(string Key, Type Type, bool IsList);

/// <summary>
/// Every options class OpenCM binds (issue #21.6): a <c>sealed class XxxOptions</c> with
/// <c>public const string Section</c>, found by reflection so that a class added later is found
/// too, by <c>opencm doctor</c> (which checks the values configured) and by the test that holds
/// docs/configuration.md to every key. A nested options object (<c>Ca:Pkcs11</c>,
/// <c>OpenCM:TextLimits</c>) is walked into; read-only properties are not settings.
/// </summary>
public static class OptionsCatalogue
{
    /// <summary>The name of the constant that marks an options class.</summary>
    public const string SectionConstant = "Section";

    /// <summary>
    /// Settings read without an options class (<see cref="DirectoryChoice.Source"/> reads
    /// <c>Directory:Source</c>; the host's <c>urls</c>): also known, also documented.
    /// </summary>
    public static IReadOnlyList<string> RawKeys { get; } = ["Directory:Source", "urls"];

    /// <summary>The options classes in <paramref name="assemblies"/>, ordered by section then name.</summary>
    public static IReadOnlyList<OptionsClass> In(IEnumerable<Assembly> assemblies)
    {
        ArgumentNullException.ThrowIfNull(assemblies);
        var found = new List<OptionsClass>();
        foreach (var assembly in assemblies.Distinct())
        {
            foreach (var type in LoadableTypes(assembly))
            {
                if (type is { IsClass: true, IsAbstract: false } && type.GetField(SectionConstant, BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field
                    && field.GetRawConstantValue() is string section)
                {
                    found.Add(new OptionsClass(section, type));
                }
            }
        }

        return [.. found.OrderBy(c => c.Section, StringComparer.OrdinalIgnoreCase).ThenBy(c => c.Type.FullName, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The OpenCM assemblies of the running application (those loaded and every OpenCM assembly
    /// they reference, which also works from a single-file bundle), then those in
    /// <paramref name="folders"/> it does not have (the server beside <c>opencm</c>, which the CLI
    /// does not reference), each loaded with its dependencies resolved from its folder.
    /// </summary>
    public static IReadOnlyList<Assembly> OpenCmAssemblies(params string[] folders)
    {
        ArgumentNullException.ThrowIfNull(folders);
        var loaded = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<Assembly>(AppDomain.CurrentDomain.GetAssemblies().Where(a => IsOpenCm(a.GetName().Name)));
        if (Assembly.GetEntryAssembly() is { } entry)
        {
            queue.Enqueue(entry);
        }

        while (queue.TryDequeue(out var assembly))
        {
            if (!loaded.TryAdd(assembly.GetName().Name ?? "", assembly))
            {
                continue;
            }

            foreach (var reference in assembly.GetReferencedAssemblies().Where(r => IsOpenCm(r.Name) && !loaded.ContainsKey(r.Name!)))
            {
                try
                {
                    queue.Enqueue(Assembly.Load(reference));
                }
                catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
                {
                    // Referenced for its build order only (the server by the CLI): looked for in the folders.
                }
            }
        }

        foreach (var folder in folders.Where(Directory.Exists))
        {
            var context = new FolderLoadContext(folder);
            foreach (var file in Directory.GetFiles(folder, "OpenCM.*.dll").Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileNameWithoutExtension(file);
                if (loaded.ContainsKey(name))
                {
                    continue;
                }

                try
                {
                    loaded[name] = context.LoadFromAssemblyPath(Path.GetFullPath(file));
                }
                catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException)
                {
                    // Not a managed assembly of this runtime: it holds no options class.
                }
            }
        }

        return [.. loaded.Values.Where(a => a.GetName().Name is { } n && !n.EndsWith(".Tests", StringComparison.OrdinalIgnoreCase) && !n.Equals("OpenCM.TestKit", StringComparison.OrdinalIgnoreCase))];
    }

    private static bool IsOpenCm(string? name) => name is not null && name.StartsWith("OpenCM.", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every setting of <paramref name="options"/>: its writable properties under its section, nested options walked into.</summary>
    public static IReadOnlyList<OptionsKey> Keys(OptionsClass options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var keys = new List<OptionsKey>();
        Walk(options.Section, options.Type, keys, depth: 0);
        return keys;
    }

    /// <summary>
    /// What is wrong with the configured values of <paramref name="classes"/>, in plain words: a
    /// value that does not convert (a port that is not a number, an unknown enumeration name), and
    /// a key under one of their sections that no class reads (a typing mistake, silently ignored otherwise).
    /// </summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration, IReadOnlyList<OptionsClass> classes)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(classes);
        var problems = new List<string>();
        var known = classes.SelectMany(Keys).GroupBy(k => k.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);

        // 1. Values that do not convert to their property's type.
        foreach (var key in known.Values.Where(k => !k.IsList))
        {
            if (configuration[key.Key] is { } value && Describe(key.Type, value) is { } wrong)
            {
                problems.Add($"{key.Key} is '{value}', {wrong}");
            }
        }

        // 2. Keys under the sections OpenCM owns that nothing reads.
        var roots = classes.Select(c => c.Section.Split(':')[0]).Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var root in roots)
        {
            foreach (var leaf in Leaves(configuration.GetSection(root)))
            {
                if (!IsKnown(leaf, known))
                {
                    problems.Add($"{leaf} is not a setting OpenCM reads (a typing mistake? docs/configuration.md lists every key)");
                }
            }
        }

        return problems;
    }

    private static bool IsKnown(string key, Dictionary<string, OptionsKey> known)
    {
        if (known.ContainsKey(key) || RawKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        // An item of a list or a dictionary (Proxies:Known:0).
        for (var colon = key.LastIndexOf(':'); colon > 0; colon = key.LastIndexOf(':', colon - 1))
        {
            if (known.TryGetValue(key[..colon], out var parent) && parent.IsList)
            {
                return true;
            }
        }

        return false;
    }

    private static IEnumerable<string> Leaves(IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            if (section.Value is not null)
            {
                yield return section.Path;
            }

            yield break;
        }

        foreach (var child in children)
        {
            foreach (var leaf in Leaves(child))
            {
                yield return leaf;
            }
        }
    }

    // Why a value does not fit its type, or null when it does.
    private static string? Describe(Type type, string value)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string) || (value.Length == 0 && target != type))
        {
            return null;
        }

        if (target.IsEnum)
        {
            return Enum.TryParse(target, value, ignoreCase: true, out _) ? null : $"which is not one of {string.Join(", ", Enum.GetNames(target))}";
        }

        try
        {
            _ = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException || e.InnerException is FormatException or OverflowException)
        {
            return target == typeof(bool) ? "which is not true or false"
                : target == typeof(int) || target == typeof(long) || target == typeof(ulong) || target == typeof(uint) ? "which is not a whole number (or too large)"
                : target == typeof(double) || target == typeof(decimal) ? "which is not a number"
                : $"which is not a {target.Name}";
        }
    }

    private static void Walk(string prefix, Type type, List<OptionsKey> keys, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true && p.GetIndexParameters().Length == 0)
                     .OrderBy(p => p.MetadataToken))
        {
            var key = $"{prefix}:{property.Name}";
            var t = property.PropertyType;
            if (IsScalar(t))
            {
                keys.Add(new OptionsKey(key, t, IsList: false));
            }
            else if (typeof(IEnumerable).IsAssignableFrom(t))
            {
                keys.Add(new OptionsKey(key, t, IsList: true));
            }
            else if (depth < 4 && t.IsClass && t.GetConstructor(Type.EmptyTypes) is not null)
            {
                Walk(key, t, keys, depth + 1);
            }
            else
            {
                keys.Add(new OptionsKey(key, t, IsList: false));
            }
        }
    }

    private static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(Uri) || t == typeof(DateTimeOffset) || t == typeof(Guid);
    }

    // An assembly that references what is not here (the server's, loaded by the CLI) still yields the types that load.
    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.Where(t => t is not null)!;
        }
    }

    // The server's assemblies beside opencm: what the application has already comes from it, the rest from the folder.
    private sealed class FolderLoadContext(string folder) : AssemblyLoadContext(nameof(OptionsCatalogue))
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            try
            {
                return Default.LoadFromAssemblyName(assemblyName);
            }
            catch (FileNotFoundException)
            {
                var candidate = Path.Combine(folder, assemblyName.Name + ".dll");
                return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
            }
        }
    }
}
