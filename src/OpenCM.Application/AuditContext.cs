namespace OpenCM.Application;

/// <summary>
/// Who makes an administrative change, and under which correlation id: what its audit event
/// records (docs/decisions/0004). Over HTTP the actor is the caller's directory user and the
/// correlation id the request's. The CLI works on the data directory as the local operator: the
/// well-known <see cref="LocalOperatorId"/> ("local-admin"), with the operating-system account
/// that ran it named in the event's detail, and one correlation id per command.
/// </summary>
/// <param name="Actor">The directory user acting, <see cref="LocalOperatorId"/>, or <see cref="Guid.Empty"/> for the server itself (first start).</param>
/// <param name="Operator">For the local operator, the operating-system account; recorded in the detail as <c>operator=</c>.</param>
public sealed record AuditContext(Guid Actor, string CorrelationId, string? Operator = null)
{
    /// <summary>The actor of changes made with the CLI on the data directory ("local-admin"); no directory user has it.</summary>
    public static readonly Guid LocalOperatorId = new("10ca1ad0-0000-4000-8000-000000000001");

    /// <summary>First-start initialization by the server itself.</summary>
    public static readonly AuditContext Bootstrap = new(Guid.Empty, "bootstrap");

    /// <summary>The local operator running one CLI command as <paramref name="account"/>.</summary>
    public static AuditContext LocalOperator(string account) => new(LocalOperatorId, $"cli-{Guid.NewGuid():N}", $"local-admin:{account}");

    /// <summary>An event's detail with the operator appended when there is one.</summary>
    public string Detail(string detail) => Operator is null ? detail : detail.Length == 0 ? $"operator={Operator}" : $"{detail} operator={Operator}";
}
