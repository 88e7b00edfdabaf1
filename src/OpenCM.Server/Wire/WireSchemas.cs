using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using OpenCM.Contracts;

namespace OpenCM.Server.Wire;

/// <summary>
/// OpenAPI schemas for the contract properties that custom converters read (the generator cannot
/// see through a converter): what each accepts, as the converters in OpenCM.Contracts define it.
/// </summary>
internal static class WireSchemas
{
    public static Task DescribeAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken ct)
    {
        switch (context.JsonPropertyInfo?.CustomConverter)
        {
            case GuidTextConverter:
                schema.Type = JsonSchemaType.String | JsonSchemaType.Null;
                schema.Format = "uuid";
                break;
            case StrictStringConverter:
                schema.Type = JsonSchemaType.String | JsonSchemaType.Null;
                break;
            case IntegerOrStringConverter:
                schema.Type = JsonSchemaType.Integer | JsonSchemaType.String | JsonSchemaType.Null;
                schema.Description = "An integer, as a JSON number or a numeric string (the reference sends \"4\").";
                break;
            case StringListConverter:
                schema.Type = JsonSchemaType.Array | JsonSchemaType.Null;
                schema.Items = new OpenApiSchema { Type = JsonSchemaType.String };
                break;
            case DataCollectionConverter:
                schema.Type = JsonSchemaType.Array | JsonSchemaType.String | JsonSchemaType.Null;
                schema.Items = null;
                schema.Description = "Name/value pairs: [{\"Name\":\"Value\"}], the same array inside a JSON string, or [{\"Name\":…,\"Value\":…}].";
                break;
            case { } converter when converter.GetType().IsGenericType && converter.GetType().GetGenericTypeDefinition() == typeof(StrictEnumConverter<>):
                var names = Enum.GetNames(converter.GetType().GetGenericArguments()[0]);
                schema.Type = JsonSchemaType.String | JsonSchemaType.Integer | JsonSchemaType.Null;
                schema.Enum = [.. names.Select(n => (JsonNode)JsonValue.Create(n))];
                schema.Description = "A name (any case) or its number.";
                break;
        }

        return Task.CompletedTask;
    }
}
