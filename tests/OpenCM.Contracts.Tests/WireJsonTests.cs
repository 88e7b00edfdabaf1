using System.Text;
using System.Text.Json;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Contracts.Tests;

/// <summary>The wire contracts read as SPEC §2 says, through the generated context; faults name what a property must be.</summary>
public class WireJsonTests
{
    private static T Read<T>(string json) => JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(json), WireJson.TypeInfo<T>())!;

    private static (string? Path, string Message) Fault<T>(string json)
    {
        var ex = Assert.Throws<JsonException>(() => Read<T>(json));
        return (ex.Path, ex.Message);
    }

    [Theory]
    [InlineData("\"[]\"", "")]
    [InlineData("\"\"", "")]
    [InlineData("[]", "")]
    [InlineData("null", null)]
    [InlineData("[{\"Request Reason\":\"VPN\"}]", "Request Reason=VPN")]
    [InlineData("\"[{\\\"Request Reason\\\":\\\"VPN\\\"}]\"", "Request Reason=VPN")]
    [InlineData("\"[{“Request Reason”:”VPN”}]\"", "Request Reason=VPN")]
    [InlineData("[{\"name\":\"Request Reason\",\"VALUE\":\"VPN\"}]", "Request Reason=VPN")]
    [InlineData("[{\"n\":4},{\"b\":true},{\"x\":null}]", "n=4;b=true;x=")]
    public void DataCollection_EveryForm_SameItems(string value, string? expected)
    {
        var body = Read<CreateRequestBody>($$"""{"datacollection":{{value}}}""");
        Assert.Equal(expected, body.DataCollection is null ? null : string.Join(";", body.DataCollection.Select(d => $"{d.Name}={d.Value}")));
    }

    [Theory]
    [InlineData("4", 4)]
    [InlineData("\"4\"", 4)]
    [InlineData("\"-2\"", -2)]
    [InlineData("null", null)]
    public void Priority_NumberOrNumericString(string value, int? expected) =>
        Assert.Equal(expected, Read<CreateRequestBody>($$"""{"priority":{{value}}}""").Priority);

    [Theory]
    [InlineData("\"Enroll\"", RequestType.Enroll)]
    [InlineData("\"enroll\"", RequestType.Enroll)]
    [InlineData("1", RequestType.Enroll)]
    [InlineData("\"10\"", RequestType.Renew)]
    public void Type_NameAnyCaseOrNumber(string value, RequestType expected) =>
        Assert.Equal(expected, Read<CreateRequestBody>($$"""{"TYPE":{{value}}}""").Type);

    [Theory]
    [InlineData("{\"priority\":\"high\"}", "$.priority", "must be an integer")]
    [InlineData("{\"priority\":1.5}", "$.priority", "must be an integer")]
    [InlineData("{\"priority\":99999999999}", "$.priority", "must be an integer")]
    [InlineData("{\"type\":\"Enrol\"}", "$.type", "'Enrol' is not a RequestType")]
    [InlineData("{\"type\":\"Enroll,Renew\"}", "$.type", "'Enroll,Renew' is not a RequestType")]
    [InlineData("{\"type\":99}", "$.type", "'99' is not a RequestType")]
    [InlineData("{\"type\":{}}", "$.type", "must be a RequestType name or number")]
    [InlineData("{\"target\":\"bob\"}", "$.target", "must be a GUID")]
    [InlineData("{\"target\":7}", "$.target", "must be a GUID")]
    [InlineData("{\"comment\":7}", "$.comment", "must be a string")]
    [InlineData("{\"comment\":\"\\ud800\"}", "$.comment", "is not valid text (invalid UTF-8 or a lone surrogate)")]
    [InlineData("{\"datacollection\":\"{nope\"}", "$.datacollection", "is a string that does not hold a JSON array")]
    [InlineData("{\"datacollection\":{}}", "$.datacollection", "must be an array of name/value objects")]
    [InlineData("{\"datacollection\":[{\"a\":\"1\",\"b\":\"2\"}]}", "$.datacollection", "items must each hold one name/value pair")]
    [InlineData("{\"datacollection\":[{\"a\":[1]}]}", "$.datacollection", "values must be strings")]
    [InlineData("{\"datacollection\":[{\"a\":\"\\udc00\"}]}", "$.datacollection", "is not valid text (invalid UTF-8 or a lone surrogate)")]
    public void CreateRequest_BadProperty_JsonExceptionNamingIt(string json, string path, string message) =>
        Assert.Equal((path, message), Fault<CreateRequestBody>(json));

    [Theory]
    [InlineData("{\"certificaterequests\":\"abc\"}", "$.certificaterequests", "must be an array of strings")]
    [InlineData("{\"certificaterequests\":[\"a\",1]}", "$.certificaterequests", "must be an array of strings")]
    [InlineData("{\"pfxpassword\":false}", "$.pfxpassword", "must be a string")]
    public void CertificateData_BadProperty_JsonExceptionNamingIt(string json, string path, string message) =>
        Assert.Equal((path, message), Fault<CertificateDataBody>(json));

    [Fact]
    public void Approval_DecisionByName_Strict()
    {
        Assert.Equal(ApprovalDecision.Deny, Read<ApprovalBody>("""{"decision":"DENY"}""").Decision);
        Assert.Equal(("$.decision", "'Maybe' is not a ApprovalDecision"), Fault<ApprovalBody>("""{"decision":"Maybe"}"""));
    }

    [Fact]
    public void Request_Serialized_ReferenceNamesInDeclarationOrderAndRelaxedEscaping()
    {
        var dto = new RequestDto(Guid.Empty, 1, 3, 0, [new DataItemDto("Reason", "<VPN> & \"more\"")], 32, Guid.Empty, Guid.Empty, "s", "c",
            Guid.Empty, Guid.Empty, Guid.Empty, Guid.Empty, 0, "", Guid.Empty, "O:", false, false, true);
        var json = JsonSerializer.Serialize(dto, WireJson.TypeInfo<RequestDto>());
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(["Uuid", "RequestType", "Status", "Flags", "DataCollection", "DataCollectionFlags", "OriginatorUserUuid"], doc.RootElement.EnumerateObject().Take(7).Select(p => p.Name));
        Assert.Contains("\"Value\":\"<VPN> & \\\"more\\\"\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificate_Serialized_LowerCaseFlagsAsTheReferenceWritesThem()
    {
        var json = JsonSerializer.Serialize(new CertificateDto { TemplateCommonName = "T", IsPkcs7 = true }, WireJson.TypeInfo<CertificateDto>());
        Assert.Contains("\"isPkcs7\":true", json, StringComparison.Ordinal);
        Assert.StartsWith("{\"TemplateCommonName\":\"T\"", json, StringComparison.Ordinal);
    }
}
