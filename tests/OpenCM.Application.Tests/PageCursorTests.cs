using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Application.Tests;

/// <summary>The portal lists' opaque continuation (issue #18.5): what it formats it reads back; anything else is a 400 naming <c>older</c>.</summary>
public class PageCursorTests
{
    [Theory]
    [InlineData(1L)]
    [InlineData(42L)]
    [InlineData(long.MaxValue)]
    public void Parse_WhatFormatMade_ThePosition(long position) => Assert.Equal(position, PageCursor.Parse(PageCursor.Format(position)));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Parse_Absent_FromTheNewest(string? token) => Assert.Equal(0, PageCursor.Parse(token));

    [Theory]
    [InlineData("r:5")]              // not base64url
    [InlineData("cjo1")]             // "r:5", the API's skiptoken
    [InlineData("bzowAA")]           // "o:0\0"
    [InlineData("bzow")]             // "o:0": no position before the first
    [InlineData("bzotNQ")]           // "o:-5"
    [InlineData("bzo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ")] // past a long
    [InlineData("%00")]
    public void Parse_NotIssuedHere_ValidationNamingOlder(string token)
    {
        var e = Assert.Throws<OpenCmException>(() => PageCursor.Parse(token));
        Assert.Equal((ErrorKind.ValidationFailed, "older"), (e.Error.Kind, e.Error.Field));
    }

    [Fact]
    public void Parse_Long_RefusedBeforeDecoding() =>
        Assert.Equal(ErrorKind.ValidationFailed, Assert.Throws<OpenCmException>(() => PageCursor.Parse(new string('A', 100_000))).Error.Kind);
}
