using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Application;

namespace OpenCM.Acme.Challenges;

/// <summary>Registers the ACME challenge validator (issue #24.4).</summary>
public static class AcmeChallengeServices
{
    /// <summary>Registers <see cref="IAcmeChallengeValidator"/>; settings that cannot work are refused here, at start, not at the first validation.</summary>
    public static IServiceCollection AddOpenCmAcmeChallenges(this IServiceCollection services, AcmeValidationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.TryAddSingleton<IAcmeChallengeValidator>(_ => new AcmeChallengeValidator(options));
        return services;
    }
}
