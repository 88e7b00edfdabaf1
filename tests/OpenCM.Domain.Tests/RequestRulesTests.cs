using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

public class RequestRulesTests
{
    private static readonly WorkflowPolicy Policy = new()
    {
        Enabled = true,
        DefaultRequestPriority = 7,
        PolicyDataCollection =
        [
            new DataCollectionItem("Request Reason", "Why", true, null),
            new DataCollectionItem("Employee Id", "Badge", false, "[0-9]{4}"),
        ],
    };

    [Fact]
    public void Validate_RequiredGiven_UsesDefaultsAndPolicyOrder()
    {
        var (value, error) = RequestRules.Validate(Policy, [new DataItem("request reason", "VPN")], "", null);
        Assert.Null(error);
        Assert.Equal(7, value!.Priority);
        Assert.Equal([new DataItem("Request Reason", "VPN"), new DataItem("Employee Id", null)], value.DataCollection);
    }

    public static TheoryData<DataItem[], string?, int?, WorkflowPolicy, string> Failures() => new()
    {
        { [], "", null, Policy, "Request Reason" },
        { [new DataItem("Request Reason", "")], "", null, Policy, "Request Reason" },
        { [new DataItem("Request Reason", "x"), new DataItem("City", "Seattle")], "", null, Policy, "City" },
        { [new DataItem("Request Reason", "x"), new DataItem("REQUEST REASON", "y")], "", null, Policy, "Request Reason" },
        { [new DataItem("Request Reason", "x"), new DataItem("Employee Id", "12a4")], "", null, Policy, "Employee Id" },
        { [new DataItem("Request Reason", "x")], "", 4, Policy, "priority" },
        { [new DataItem("Request Reason", "x")], "", 256, Policy with { CollectRequestPriority = true }, "priority" },
        { [new DataItem("Request Reason", "x")], "", -1, Policy with { CollectRequestPriority = true }, "priority" },
        { [new DataItem("Request Reason", "x")], "please", null, Policy, "comment" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Validate_InvalidInput_NamesOffendingItem(DataItem[] data, string? comment, int? priority, WorkflowPolicy policy, string field)
    {
        var (value, error) = RequestRules.Validate(policy, data, comment, priority);
        Assert.Null(value);
        Assert.Equal((ErrorKind.ValidationFailed, field), (error!.Kind, error.Field));
    }

    [Fact]
    public void Validate_PriorityCollected_TakesGivenValue()
    {
        var (value, _) = RequestRules.Validate(Policy with { CollectRequestPriority = true, CollectComments = true }, [new DataItem("Request Reason", "x")], "hi", 255);
        Assert.Equal((255, "hi"), (value!.Priority, value.Comment));
    }
}
