namespace OpenCM.Domain.Tests;

/// <summary>Issue #18.1: the caps on client-controlled free text, in UTF-8 bytes.</summary>
public class TextLimitsTests
{
    private static readonly WorkflowPolicy Policy = new()
    {
        Enabled = true,
        CollectComments = true,
        PolicyDataCollection = [new DataCollectionItem("Request Reason", "Why", true, null)],
    };

    private static string Repeat(string unit, int count) => string.Concat(Enumerable.Repeat(unit, count));

    public static TheoryData<string, bool> Comments() => new()
    {
        { "", false },
        { Repeat("c", 4096), false },
        { Repeat("c", 4097), true },
        { Repeat("€", 1365) + "c", false }, // 4,096 bytes in 1,366 characters
        { Repeat("€", 1366), true },        // 4,098 bytes
        { Repeat("😀", 1024), false },      // 4 bytes each, two UTF-16 units
        { Repeat("😀", 1024) + "c", true },
        { Repeat("\uD800", 1366), true },   // a lone surrogate is written as three bytes (U+FFFD)
    };

    [Theory]
    [MemberData(nameof(Comments))]
    public void CheckComment_ByUtf8Bytes_RefusedOnlyOverTheLimit(string comment, bool refused)
    {
        var error = TextLimits.Default.CheckComment("comment", comment);
        Assert.Equal(refused, error is not null);
        if (error is not null)
        {
            Assert.Equal((ErrorKind.ValidationFailed, "comment"), (error.Kind, error.Field));
            Assert.Contains("4096 bytes", error.Detail, StringComparison.Ordinal);
        }
    }

    public static TheoryData<DataItem[], string, string> DataFailures() => new()
    {
        { [new DataItem("Request Reason", Repeat("v", 1025))], "Request Reason", "1024" },
        { [new DataItem("Request Reason", Repeat("é", 513))], "Request Reason", "1024" },
        { [new DataItem(Repeat("n", 257), "x")], "datacollection[0].name", "256" },
        { [new DataItem("Request Reason", "x"), new DataItem(Repeat("n", 300), "x")], "datacollection[1].name", "256" },
        { [.. Enumerable.Range(0, 65).Select(i => new DataItem($"item {i}", "x"))], "datacollection", "64" },
    };

    [Theory]
    [MemberData(nameof(DataFailures))]
    public void Validate_TextOverItsCap_RefusedNamingTheFieldAndTheLimit(DataItem[] data, string field, string limit)
    {
        var (value, error) = RequestRules.Validate(Policy, data, "", null);
        Assert.Null(value);
        Assert.Equal((ErrorKind.ValidationFailed, field), (error!.Kind, error.Field));
        Assert.Contains(limit, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AtEveryCap_Accepted()
    {
        var (value, error) = RequestRules.Validate(Policy, [new DataItem("Request Reason", Repeat("v", 1024))], Repeat("c", 4096), null);
        Assert.Null(error);
        Assert.Equal(4096, value!.Comment.Length);
    }

    [Fact]
    public void Validate_ConfiguredLimits_Applied()
    {
        var limits = new TextLimits { CommentBytes = 10, DataValueBytes = 3 };
        Assert.Equal("comment", RequestRules.Validate(Policy, [new DataItem("Request Reason", "abc")], Repeat("c", 11), null, limits).Error?.Field);
        Assert.Equal("Request Reason", RequestRules.Validate(Policy, [new DataItem("Request Reason", "abcd")], "", null, limits).Error?.Field);
        Assert.Null(RequestRules.Validate(Policy, [new DataItem("Request Reason", "abc")], Repeat("c", 10), null, limits).Error);
    }

    [Fact]
    public void Validate_CommentOverTheCapWherePolicyCollectsNone_RefusedByItsSize()
    {
        var (_, error) = RequestRules.Validate(Policy with { CollectComments = false }, [new DataItem("Request Reason", "x")], Repeat("c", 5000), null);
        Assert.Contains("4096", error!.Detail, StringComparison.Ordinal);
    }
}
