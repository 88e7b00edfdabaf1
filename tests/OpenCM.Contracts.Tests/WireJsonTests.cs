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
    [InlineData("\"Enroll\"", WireRequestType.Enroll)]
    [InlineData("\"enroll\"", WireRequestType.Enroll)]
    [InlineData("1", WireRequestType.Enroll)]
    [InlineData("\"10\"", WireRequestType.Renew)]
    public void Type_NameAnyCaseOrNumber(string value, WireRequestType expected) =>
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

    // The server maps a wire enumeration to the Domain's by its number: both must name every number alike.
    [Theory]
    [InlineData(typeof(WireRequestType), typeof(RequestType))]
    [InlineData(typeof(WireRequestStatus), typeof(RequestStatus))]
    [InlineData(typeof(WireSmartcardStatus), typeof(SmartcardStatus))]
    public void WireEnumeration_EveryValue_SameNameAndNumberAsTheDomains(Type wire, Type domain)
    {
        static IEnumerable<(string, long)> Values(Type t) => Enum.GetValues(t).Cast<Enum>().Select(v => (v.ToString(), Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(Values(domain), Values(wire));
    }

    [Fact]
    public void Bodies_Serialized_TheSameBytesAsTheDomainTypesGave()
    {
        Assert.Equal("""{"Type":"OfflineUnblock","ProfileTemplateUuid":null,"DataCollection":[{"Name":"Reason","Value":"lab"}],"Target":null,"Comment":"","Priority":null,"Smartcard":null,"Profile":null}""",
            JsonSerializer.Serialize(new CreateRequestBody(WireRequestType.OfflineUnblock, null, [new DataItemDto("Reason", "lab")], Comment: ""), WireJson.TypeInfo<CreateRequestBody>()));
        Assert.Equal("""{"Status":"Abandoned"}""", JsonSerializer.Serialize(new SetStatusBody(WireRequestStatus.Abandoned), WireJson.TypeInfo<SetStatusBody>()));
        Assert.Equal("""{"Status":"Retired"}""", JsonSerializer.Serialize(new SetCardStatusBody(WireSmartcardStatus.Retired), WireJson.TypeInfo<SetCardStatusBody>()));
        Assert.Equal(("$.status", "'Lost' is not a SmartcardStatus"), Fault<SetCardStatusBody>("""{"status":"Lost"}"""));
        Assert.Equal(("$.status", "'Done' is not a RequestStatus"), Fault<SetStatusBody>("""{"status":"Done"}"""));
    }

    [Fact]
    public void Problem_Serialized_Rfc9457MembersThenOpenCmsAbsentWhenUnset()
    {
        var bare = new ProblemDto("https://opencm.dev/errors/NotFound", "The resource does not exist.", 404, "No such request.", "NotFound", "c1");
        Assert.Equal("""{"type":"https://opencm.dev/errors/NotFound","title":"The resource does not exist.","status":404,"detail":"No such request.","errorCode":"NotFound","correlationId":"c1"}""",
            JsonSerializer.Serialize(bare, WireJson.TypeInfo<ProblemDto>()));
        Assert.EndsWith(""","correlationId":"c1","field":"status","currentStatus":17}""",
            JsonSerializer.Serialize(bare with { Field = "status", CurrentStatus = 17 }, WireJson.TypeInfo<ProblemDto>()), StringComparison.Ordinal);
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
