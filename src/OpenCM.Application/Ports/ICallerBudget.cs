namespace OpenCM.Application;

/// <summary>What a use case costs the server, for <see cref="ICallerBudget"/>.</summary>
public enum CallerCost
{
    /// <summary>Real work: a request created, certificate data with its key generation and signing.</summary>
    Expensive,

    /// <summary>A cheap write that can still be flooded: a card bound, a vote.</summary>
    Write,
}

/// <summary>
/// Per-user rate limits at the use cases' entry (issue #7.8, #18.4): every front-end (the API,
/// the portal) draws from the same buckets, keyed by the resolved caller's user GUID. Spending
/// more than is left throws <see cref="Domain.ErrorKind.RateLimited"/>, carrying when to try again.
/// </summary>
public interface ICallerBudget
{
    /// <summary>Takes one unit of <paramref name="cost"/> from <paramref name="caller"/>'s bucket, or throws RateLimited.</summary>
    void Spend(Caller caller, CallerCost cost);
}

/// <summary>No limits: hosts without a rate-limit configuration (the data-directory commands, tests of the use cases).</summary>
public sealed class UnlimitedBudget : ICallerBudget
{
    public static readonly UnlimitedBudget Instance = new();

    public void Spend(Caller caller, CallerCost cost)
    {
    }
}
