using OpenCM.Server.Wire;

namespace OpenCM.Server.Tests;

public class WireFormatTests
{
    [Theory]
    [InlineData("2015-07-07T23:36:21.9300000Z", "2015-07-07T23:36:21.93Z")]
    [InlineData("2015-07-07T23:37:37.7670000Z", "2015-07-07T23:37:37.767Z")]
    [InlineData("2026-11-25T12:00:00.0000000Z", "2026-11-25T12:00:00Z")]
    [InlineData("2026-11-25T12:00:00.0000001Z", "2026-11-25T12:00:00Z")] // at most milliseconds, as the reference writes (issue #7.12)
    [InlineData("2026-11-25T12:00:00.1234567Z", "2026-11-25T12:00:00.123Z")]
    [InlineData("2026-11-25T13:00:00.5000000+01:00", "2026-11-25T12:00:00.5Z")]
    public void Time_Set_UtcWithTrimmedFraction(string input, string expected) =>
        Assert.Equal(expected, WireFormat.Time(DateTimeOffset.Parse(input, System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public void Time_Unset_ReferenceFormWithoutZ() => Assert.Equal("0001-01-01T00:00:00", WireFormat.Time(null));
}
