using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace OpenCM.Application;

/// <summary>Registers the use cases and the access policy; hosts add storage, a CA (its signing port, CSR checker, key generator, packaging and issuer profile) and a clock.</summary>
public static class ApplicationServices
{
    public static IServiceCollection AddOpenCmApplication(this IServiceCollection services)
    {
        // No limits unless the host registers its own (the HTTP server's token buckets).
        services.TryAddSingleton<ICallerBudget>(UnlimitedBudget.Instance);
        services.TryAddSingleton(DirectorySource.Embedded);
        services.AddSingleton<AccessPolicy>();
        services.AddSingleton<CaNoticeDelivery>();
        services.AddSingleton<DirectoryAdministration>();
        services.AddSingleton<AuthorityChanges>();
        services.AddSingleton<RequestQueries>();
        services.AddSingleton<RequestContextLoader>();
        services.AddSingleton<RequestCreation>();
        services.AddSingleton<RequestTransitions>();
        services.AddSingleton<ServerExecution>();
        services.AddSingleton<TemplateService>();
        services.AddSingleton<CertificateIssuance>();
        services.AddSingleton<EnrollmentService>();
        services.AddSingleton<ProfileService>();
        services.AddSingleton<SmartcardBinding>();
        services.AddSingleton<SmartcardSecrets>();
        services.AddSingleton<SmartcardQueries>();
        services.AddSingleton<HelpDeskUnblock>();
        services.AddSingleton<PortalViews>();
        services.AddSingleton<Reports>();

        // The one-shot device enrollment the EST, SCEP and ACME front-ends drive (issue #24.1).
        services.AddSingleton<DirectoryCallers>();
        services.AddSingleton<DeviceEnrollment>();

        // Notifications and webhooks (issue #21.2): the host adds the channels' transports and runs the dispatcher.
        services.AddSingleton<NotificationDispatcher>();
        services.AddSingleton<ExpiryNotices>();
        services.AddSingleton<INotificationChannel, MailNotifications>();
        return services;
    }
}
