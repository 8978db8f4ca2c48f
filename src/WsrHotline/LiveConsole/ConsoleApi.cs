using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;
using WsrHotline.Simulator;
using WsrHotline.Staff;
using WsrHotline.Voice;

namespace WsrHotline.LiveConsole;

/// <summary>
/// The console's JSON API under <c>/console/api</c>: who I am, the cases I can see, one case with its
/// timeline and conversation, replies. Every endpoint needs a signed-in staff member; every change
/// needs the antiforgery token (header <c>X-CSRF-TOKEN</c>, handed out by <c>/console/api/me</c>).
/// </summary>
public static class ConsoleApi
{
    public sealed record SignedInStaff(int StaffId, string DisplayName, string Role, string? Team, string[] Languages,
        string Status, string AnswerMode, LanguageItem[] HotlineLanguages, string VoiceMode, string CsrfToken);

    public sealed record LanguageItem(string Code, string Name, string NativeName);

    public sealed record CaseListItem(long Id, string CaseNumber, string Status, string Severity, string LanguageCode,
        string Channel, string? AssignedTo, DateTime OpenedAt, DateTime LastActivityAt, bool Restricted,
        string? NextClockKind, DateTime? NextClockDueAt, bool NextClockWarned, bool NextClockBreached);

    /// <summary>An open clock of a case: what is due, when, and whether it was warned of or breached.</summary>
    public sealed record ClockItem(long Id, string Kind, DateTime DueAt, DateTime? WarnedAt, DateTime? BreachedAt);

    /// <summary>
    /// A timeline entry as the console shows it: a sentence (<see cref="TimelineSentences"/>). The raw
    /// details go to admins only; everyone else gets null.
    /// </summary>
    public sealed record TimelineItem(long Id, DateTime OccurredAt, string ActorKind, string? ActorName, string Kind, string Sentence, string? Details);

    public sealed record MessageItem(long Id, string Direction, string Channel, string? Body, int NumMedia, string Status,
        int? ErrorCode, string? Purpose, DateTime CreatedAt);

    public sealed record Reply(string? Body);

    /// <summary>An attachment of a message as the console lists it (the file itself: <c>/console/api/media/{id}</c>).</summary>
    public sealed record MediaItem(long Id, long MessageId, string ContentType, string Status, long? SizeBytes, string? RefusedReason);

    public static IServiceCollection AddLiveConsole(this IServiceCollection services)
    {
        services.AddOptions<VoiceSdkOptions>()
            .BindConfiguration("VoiceSdk")
            .Validate(o => o.Configured || (string.IsNullOrEmpty(o.ApiKeySid) && string.IsNullOrEmpty(o.ApiKeySecret) && string.IsNullOrEmpty(o.TwimlAppSid)),
                "VoiceSdk needs all three of ApiKeySid, ApiKeySecret and TwimlAppSid (or none: calls then go to phones).")
            // Twilio's token library signs HS256 and refuses a key under 128 bits; Twilio's secrets have 32 characters.
            .Validate(o => string.IsNullOrEmpty(o.ApiKeySecret) || o.ApiKeySecret.Length >= 16,
                "VoiceSdk:ApiKeySecret must be the API key's secret as the Twilio console showed it (32 characters).")
            .ValidateOnStart();
        services.AddSingleton<VoiceTokens>();
        services.AddSingleton<CannedResponses>();
        services.AddSingleton<StaffReplies>();
        return services;
    }

    public static WebApplication MapLiveConsole(this WebApplication app)
    {
        app.MapGet("/console", (IWebHostEnvironment environment) => Page(environment, "console.html"))
            .RequireAuthorization(StaffPolicies.Investigator);
        app.MapGet("/dashboard", (IWebHostEnvironment environment) => Page(environment, "dashboard.html"))
            .RequireAuthorization(StaffPolicies.Coordinator);

        var api = app.MapGroup("/console/api")
            .RequireAuthorization(StaffPolicies.Investigator)
            .AddEndpointFilter(RequireAntiforgeryOnChanges);

        api.MapGet("/me", MeAsync);
        api.MapGet("/complaints", ListAsync);
        api.MapGet("/complaints/{id:long}", DetailAsync);
        api.MapPost("/complaints/{id:long}/messages", ReplyAsync);
        api.MapGet("/canned/{language}", (string language, CannedResponses canned) => TypedResults.Ok(canned.For(language)));
        api.MapGet("/voice-token", VoiceToken);
        api.MapGet("/media/{id:long}", MediaAsync);
        api.MapCaseWork();
        api.MapVoicemailAndCallbacks();
        api.MapCallControls();
        return app;
    }

    /// <summary>Serves a page of the built front end (wwwroot/app), or says how to build it.</summary>
    public static IResult Page(IWebHostEnvironment environment, string file)
    {
        var page = environment.WebRootFileProvider.GetFileInfo("app/" + file);
        return page.Exists
            ? Results.File(page.PhysicalPath!, "text/html; charset=utf-8")
            : Results.Problem("The console's front end is not built: run `npm ci && npm run build` in src/WsrHotline/ClientApp (dotnet build does it).",
                statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>Antiforgery for every POST/PUT/DELETE of the API: the header token must match the cookie.</summary>
    internal static async ValueTask<object?> RequireAntiforgeryOnChanges(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
        {
            var antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return Results.Problem("The page's security token is missing or stale: reload the page.", statusCode: StatusCodes.Status400BadRequest);
            }
        }
        return await next(context);
    }

    private static async Task<Ok<SignedInStaff>> MeAsync(HttpContext http, NpgsqlDataSource dataSource, IAntiforgery antiforgery,
        VoiceTokens tokens, IOptions<SimulatorOptions> simulator, CancellationToken cancellationToken)
    {
        var user = http.User;
        var staffId = user.StaffId();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var languages = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT language_code FROM staff_languages WHERE staff_id = @staffId ORDER BY language_code", new { staffId }, cancellationToken: cancellationToken))).ToArray();
        var presence = await connection.QuerySingleOrDefaultAsync<(string Status, string AnswerMode)?>(new CommandDefinition(
            "SELECT status, answer_mode FROM staff_presence WHERE staff_id = @staffId", new { staffId }, cancellationToken: cancellationToken));
        var hotlineLanguages = (await connection.QueryAsync<LanguageItem>(new CommandDefinition(
            "SELECT code, name, native_name FROM languages WHERE active ORDER BY code", cancellationToken: cancellationToken))).ToArray();
        var voiceMode = tokens.Configured ? "twilio" : simulator.Value.Enabled ? "simulator" : "phone";
        var csrf = antiforgery.GetAndStoreTokens(http).RequestToken!;
        return TypedResults.Ok(new SignedInStaff(staffId, user.Identity!.Name!, user.Role(), user.Team(), languages,
            presence?.Status ?? "away", presence?.AnswerMode ?? "browser", hotlineLanguages, voiceMode, csrf));
    }

    private static async Task<Ok<CaseListItem[]>> ListAsync(HttpContext http, NpgsqlDataSource dataSource, string? status, string? language,
        CancellationToken cancellationToken)
    {
        var user = http.User;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<CaseListItem>(new CommandDefinition($"""
            SELECT k.id, k.case_number, k.status, k.severity, k.language_code, k.channel, s.display_name AS assigned_to,
                   k.opened_at, k.last_activity_at, k.restricted_team IS NOT NULL AS restricted,
                   n.kind AS next_clock_kind, n.due_at AS next_clock_due_at,
                   coalesce(n.warned_at IS NOT NULL, false) AS next_clock_warned, coalesce(n.breached_at IS NOT NULL, false) AS next_clock_breached
            FROM complaints k LEFT JOIN staff s ON s.id = k.assigned_staff_id
            LEFT JOIN LATERAL (
                SELECT d.kind, d.due_at, d.warned_at, d.breached_at FROM deadlines d
                WHERE d.complaint_id = k.id AND d.met_at IS NULL ORDER BY d.due_at LIMIT 1) n ON true
            WHERE {CaseAccess.VisibleCondition}
              AND (@language IS NULL OR k.language_code = @language)
              AND (CASE WHEN @status = 'all' THEN true
                        WHEN @status IS NULL OR @status = 'open' THEN k.closed_at IS NULL
                        ELSE k.status = @status END)
            ORDER BY k.last_activity_at DESC
            LIMIT 200
            """, new { seesEverything = user.SeesEverything(), team = user.Team(), language, status }, cancellationToken: cancellationToken));
        return TypedResults.Ok(rows.ToArray());
    }

    private static async Task<Results<Ok<object>, NotFound, ForbidHttpResult>> DetailAsync(long id, HttpContext http, NpgsqlDataSource dataSource,
        PiiProtector pii, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await CaseAccess.CheckAsync(connection, http.User, id, cancellationToken) is not { } access)
        {
            return TypedResults.NotFound();
        }
        if (!access.Allowed)
        {
            return TypedResults.Forbid();
        }
        var complaint = await connection.QuerySingleAsync(new CommandDefinition("""
            SELECT k.id, k.case_number, k.status, k.severity, k.language_code, k.channel, k.confidentiality,
                   k.assigned_staff_id, a.display_name AS assigned_to, k.supplier_id, p.name AS supplier_name,
                   p.program_status AS supplier_program_status, k.outside_supplier_name, k.shareable_summary,
                   k.opened_at, k.last_activity_at, k.closed_at, k.restricted_team
            FROM complaints k
            LEFT JOIN staff a ON a.id = k.assigned_staff_id
            LEFT JOIN suppliers p ON p.id = k.supplier_id
            WHERE k.id = @id
            """, new { id }, cancellationToken: cancellationToken));
        var timeline = await TimelineAsync(connection, id, http.User.Role() == "admin", cancellationToken);
        var messages = (await connection.QueryAsync<(long Id, string Direction, string Channel, string? BodyEncrypted, int NumMedia,
            string Status, int? ErrorCode, string? Purpose, DateTime CreatedAt)>(new CommandDefinition("""
            SELECT id, direction, channel, body_encrypted, num_media, status, error_code, purpose, created_at
            FROM messages WHERE complaint_id = @id
            ORDER BY created_at, id
            """, new { id }, cancellationToken: cancellationToken)))
            .Select(m => new MessageItem(m.Id, m.Direction, m.Channel,
                m.BodyEncrypted is null ? null : pii.Decrypt(m.BodyEncrypted, PiiPurpose.MessageBody),
                m.NumMedia, m.Status, m.ErrorCode, m.Purpose, m.CreatedAt))
            .ToArray();
        var provisions = await connection.QueryAsync(new CommandDefinition("""
            SELECT p.id, p.number, p.title, p.zero_tolerance FROM complaint_provisions c JOIN provisions p ON p.id = c.provision_id
            WHERE c.complaint_id = @id ORDER BY p.number
            """, new { id }, cancellationToken: cancellationToken));
        var media = await connection.QueryAsync<MediaItem>(new CommandDefinition("""
            SELECT m.id, m.message_id, coalesce(m.content_type, m.declared_content_type) AS content_type, m.status, m.size_bytes, m.refused_reason
            FROM message_media m JOIN messages g ON g.id = m.message_id
            WHERE g.complaint_id = @id ORDER BY m.message_id, m.position
            """, new { id }, cancellationToken: cancellationToken));
        var clocks = await connection.QueryAsync<ClockItem>(new CommandDefinition("""
            SELECT id, kind, due_at, warned_at, breached_at FROM deadlines
            WHERE complaint_id = @id AND met_at IS NULL ORDER BY due_at
            """, new { id }, cancellationToken: cancellationToken));
        return TypedResults.Ok<object>(new { complaint, provisions, timeline, messages, media, clocks });
    }

    /// <summary>The case's timeline as sentences; with the raw details for an admin.</summary>
    public static async Task<TimelineItem[]> TimelineAsync(NpgsqlConnection connection, long complaintId, bool withDetails, CancellationToken cancellationToken)
    {
        var rows = await connection.QueryAsync<(long Id, DateTime OccurredAt, string ActorKind, string? ActorName, string Kind, string Details)>(new CommandDefinition("""
            SELECT t.id, t.occurred_at, t.actor_kind, s.display_name AS actor_name, t.kind, t.details::text AS details
            FROM case_timeline t LEFT JOIN staff s ON s.id = t.actor_staff_id
            WHERE t.complaint_id = @complaintId ORDER BY t.occurred_at, t.id
            """, new { complaintId }, cancellationToken: cancellationToken));
        var staff = (await connection.QueryAsync<(int Id, string Name)>(new CommandDefinition(
            "SELECT id, display_name FROM staff", cancellationToken: cancellationToken))).ToDictionary(s => s.Id, s => s.Name);
        var languages = (await connection.QueryAsync<(string Code, string Name)>(new CommandDefinition(
            "SELECT code, name FROM languages", cancellationToken: cancellationToken))).ToDictionary(l => l.Code, l => l.Name, StringComparer.Ordinal);
        var context = new TimelineContext(staff, languages);
        return [.. rows.Select(row =>
        {
            using var details = System.Text.Json.JsonDocument.Parse(row.Details);
            var sentence = TimelineSentences.For(new TimelineEntry(row.Kind, row.ActorKind, row.ActorName, row.OccurredAt, details.RootElement, context));
            return new TimelineItem(row.Id, row.OccurredAt, row.ActorKind, row.ActorName, row.Kind, sentence, withDetails ? row.Details : null);
        })];
    }

    private static async Task<Results<Ok<long>, NotFound, ForbidHttpResult, ProblemHttpResult>> ReplyAsync(long id, Reply reply, HttpContext http,
        NpgsqlDataSource dataSource, StaffReplies replies, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(reply.Body) || reply.Body.Length > 1600)
        {
            return TypedResults.Problem("A reply needs 1 to 1,600 characters.", statusCode: StatusCodes.Status400BadRequest);
        }
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (await CaseAccess.CheckAsync(connection, http.User, id, cancellationToken) is not { } access)
            {
                return TypedResults.NotFound();
            }
            if (!access.Allowed)
            {
                return TypedResults.Forbid();
            }
        }
        var outcome = await replies.QueueAsync(id, http.User.StaffId(), reply.Body.Trim(), cancellationToken);
        return outcome.MessageId is { } messageId
            ? TypedResults.Ok(messageId)
            : TypedResults.Problem(outcome.Refusal, statusCode: StatusCodes.Status409Conflict);
    }

    /// <summary>
    /// A worker's attachment, decrypted for a staff member who may open its case. Served inline for
    /// images, PDFs and audio, never cached, and never to a browser that guesses another type.
    /// </summary>
    private static async Task<IResult> MediaAsync(long id, HttpContext http, NpgsqlDataSource dataSource, Messaging.MediaStore store,
        CancellationToken cancellationToken)
    {
        var file = await store.OpenDecryptedAsync(id, cancellationToken);
        if (file?.ComplaintId is not { } complaintId)
        {
            return Results.NotFound();
        }
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (await CaseAccess.CheckAsync(connection, http.User, complaintId, cancellationToken) is not { Allowed: true })
            {
                return Results.Forbid();
            }
        }
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Bytes(file.Content, file.ContentType);
    }

    private static IResult VoiceToken(ClaimsPrincipal user, VoiceTokens tokens, IOptions<SimulatorOptions> simulator)
    {
        var identity = ConsoleOffers.ClientIdentity(user.StaffId());
        if (tokens.Configured)
        {
            return Results.Ok(new { mode = "twilio", identity, token = tokens.Create(identity) });
        }
        return Results.Ok(new { mode = simulator.Value.Enabled ? "simulator" : "phone", identity, token = (string?)null });
    }
}
