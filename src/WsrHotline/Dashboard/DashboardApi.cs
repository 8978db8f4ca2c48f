using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using WsrHotline.Jobs;
using WsrHotline.Spool;
using WsrHotline.Staff;

namespace WsrHotline.Dashboard;

/// <summary>
/// The coordinators' dashboard data as JSON under <c>/dashboard/api</c> (the page itself and its live
/// updates belong to the console). Every endpoint takes the same filters as query parameters:
/// <c>language</c>, <c>severity</c>, <c>status</c>, <c>supplier</c>, <c>provision</c>, <c>from</c>, <c>to</c>
/// (opening dates). Coordinators and admins only (<see cref="StaffPolicies.Coordinator"/>: 401 signed out, 403 for investigators).
/// </summary>
public static class DashboardApi
{
    public static IServiceCollection AddDashboard(this IServiceCollection services) => services
        .AddSingleton<DashboardQueries>()
        .AddRecurringJob(RecurringJobs.DashboardSnapshotId, o => o.DashboardInterval,
            (p, ct) => p.GetRequiredService<DashboardQueries>().RefreshSnapshotAsync(ct));

    public static RouteGroupBuilder MapDashboardApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/dashboard/api").RequireAuthorization(StaffPolicies.Coordinator);
        api.MapGet("/clocks/due", async Task<Ok<ClockList>> ([AsParameters] FilterQuery f, int? hours, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.DueSoonAsync(f.ToFilter(), TimeSpan.FromHours(hours ?? 24), ct)));
        api.MapGet("/clocks/breached", async Task<Ok<ClockList>> ([AsParameters] FilterQuery f, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.BreachedAsync(f.ToFilter(), ct)));
        api.MapGet("/escalations", async Task<Ok<List<BuyerEscalationCount>>> ([AsParameters] FilterQuery f, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.EscalationsByBuyerAsync(f.ToFilter(), ct)));
        api.MapGet("/escalations/failed", async Task<Ok<List<FailedDelivery>>> (DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.FailedDeliveriesAsync(ct)));
        api.MapGet("/stalled", async Task<Ok<StalledList>> ([AsParameters] FilterQuery f, int? days, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.StalledAsync(f.ToFilter(), days, ct)));
        api.MapGet("/coverage", async Task<Ok<List<CoverageGap>>> (DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.CoverageGapsAsync(ct)));
        // Calls waiting, investigators by state and who covers each language now: not filtered (the filters are about complaints).
        api.MapGet("/queue", async Task<Ok<QueueNow>> (DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.QueueAsync(ct)));
        api.MapGet("/counts", async Task<Ok<Counts>> ([AsParameters] FilterQuery f, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.CountsAsync(f.ToFilter(), ct)));
        api.MapGet("/resolution", async Task<Ok<ResolutionTimes>> ([AsParameters] FilterQuery f, int? days, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.ResolutionTimesAsync(f.ToFilter(), days ?? 90, ct)));
        api.MapGet("/outside-program", async Task<Ok<List<OutsideProgramSupplier>>> ([AsParameters] FilterQuery f, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.OutsideProgramAsync(f.ToFilter(), ct)));
        api.MapGet("/unconfigured-numbers", async Task<Ok<UnconfiguredNumberTexts>> (int? days, DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.UnconfiguredNumberTextsAsync(Math.Clamp(days ?? 30, 1, 366), ct)));
        api.MapGet("/reconciliation", async Task<Ok<ReconciliationReport>> (DashboardQueries q, CancellationToken ct) =>
            TypedResults.Ok(await q.ReconciliationAsync(ct)));
        // Webhooks Twilio was answered for but that are not stored yet, or can never be as they are (this instance's spool).
        api.MapGet("/spool", Ok<SpoolCounts> (WebhookSpool spool) => TypedResults.Ok(spool.Count()));
        api.MapGet("/export.csv", async ([AsParameters] FilterQuery f, DashboardQueries q, HttpResponse response, CancellationToken ct) =>
        {
            response.ContentType = "text/csv; charset=utf-8";
            response.Headers.ContentDisposition = "attachment; filename=\"complaints.csv\"";
            await using var writer = new StreamWriter(response.Body, new UTF8Encoding(false));
            await q.WriteCsvAsync(f.ToFilter(), writer, ct);
        });
        return api;
    }

    /// <summary>The filters as query parameters.</summary>
    public sealed class FilterQuery
    {
        [FromQuery(Name = "language")] public string? Language { get; set; }
        [FromQuery(Name = "severity")] public string? Severity { get; set; }
        [FromQuery(Name = "status")] public string? Status { get; set; }
        [FromQuery(Name = "supplier")] public int? Supplier { get; set; }
        [FromQuery(Name = "provision")] public int? Provision { get; set; }
        [FromQuery(Name = "from")] public DateTimeOffset? From { get; set; }
        [FromQuery(Name = "to")] public DateTimeOffset? To { get; set; }

        public DashboardFilter ToFilter() => new(
            Blank(Language), Blank(Severity), Blank(Status), Supplier, Provision, From?.ToUniversalTime(), To?.ToUniversalTime());

        private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
    }
}
