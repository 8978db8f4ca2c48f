using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Pii;

namespace WsrHotline.Escalation;

/// <summary>
/// The buyer's answer link (<c>/buyer/escalations/{id}?token=…</c>, in every webhook and e-mail): a
/// small page showing what was sent and a form to record "acknowledged" or "action taken" (with a
/// note), on the complaint's timeline as the buyer. The token (expiry + keyed MAC of the id) is the
/// authentication, on GET and POST alike; there is no cookie, so no antiforgery token either.
/// </summary>
public static partial class BuyerAnswerEndpoints
{
    private sealed record EscalationRow(long Id, long ComplaintId, int? BuyerId, string Status, string Payload, string? BuyerName);

    public static IEndpointRouteBuilder MapBuyerAnswers(this IEndpointRouteBuilder endpoints)
    {
        var buyer = endpoints.MapGroup("/buyer/escalations");
        buyer.MapGet("/{id:long}", ShowAsync);
        buyer.MapPost("/{id:long}", AnswerAsync);
        return endpoints;
    }

    private static async Task<IResult> ShowAsync(long id, string? token, NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!BuyerSignatures.IsValidAnswerToken(pii, id, token, time.GetUtcNow()) || await FindAsync(dataSource, id, cancellationToken) is not { } row)
        {
            return Page(HttpStatusCode.NotFound, "This link is not valid or has expired. Please answer the e-mail or contact the monitoring organization.");
        }
        return Page(HttpStatusCode.OK, Form(row, token!, null));
    }

    private static async Task<IResult> AnswerAsync(
        long id, string? token, HttpRequest request, NpgsqlDataSource dataSource, PiiProtector pii, TimeProvider time,
        ILogger<EscalationDelivery> logger, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!BuyerSignatures.IsValidAnswerToken(pii, id, token, now))
        {
            return Page(HttpStatusCode.NotFound, "This link is not valid or has expired. Please answer the e-mail or contact the monitoring organization.");
        }
        var form = request.HasFormContentType ? await request.ReadFormAsync(cancellationToken) : null;
        var answer = form?["answer"].ToString();
        if (answer is not ("acknowledged" or "action_taken"))
        {
            return Page(HttpStatusCode.BadRequest, "Choose \"acknowledged\" or \"action taken\".");
        }
        var note = form!["note"].ToString().Trim();
        note = note.Length > 2000 ? note[..2000] : note;

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // 'action_taken' is final; 'acknowledged' may later become 'action_taken'.
        var row = await connection.QuerySingleOrDefaultAsync<EscalationRow>(new CommandDefinition("""
            UPDATE escalations SET status = @answer, answered_at = @now
            WHERE id = @id AND level = 'buyer' AND status <> 'action_taken'
            RETURNING id, complaint_id, buyer_id, status, payload::text AS payload, NULL AS buyer_name
            """, new { id, answer, now }, transaction, cancellationToken: cancellationToken));
        if (row is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return await FindAsync(dataSource, id, cancellationToken) is { } existing
                ? Page(HttpStatusCode.OK, Form(existing, token!, "Your answer was already recorded as action taken. Thank you."))
                : Page(HttpStatusCode.NotFound, "This escalation does not exist.");
        }
        await Timeline.AppendAsync(connection, transaction, row.ComplaintId, TimelineActor.Buyer, null, "escalation.answered",
            new { escalation_id = id, buyer_id = row.BuyerId, answer, note = note.Length == 0 ? null : note }, cancellationToken);
        await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Dashboard, Audience.Coordinators, row.ComplaintId,
            new { reason = "escalation.status", escalation_id = id, level = "buyer", buyer_id = row.BuyerId, status = answer }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogAnswered(logger, id, answer);
        return Page(HttpStatusCode.OK, Form(row with { Status = answer }, token!, "Thank you: your answer is recorded."));
    }

    private static async Task<EscalationRow?> FindAsync(NpgsqlDataSource dataSource, long id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<EscalationRow>(new CommandDefinition("""
            SELECT e.id, e.complaint_id, e.buyer_id, e.status, e.payload::text AS payload, b.name AS buyer_name
            FROM escalations e LEFT JOIN buyers b ON b.id = e.buyer_id
            WHERE e.id = @id AND e.level = 'buyer'
            """, new { id }, cancellationToken: cancellationToken));
    }

    private static string Form(EscalationRow row, string token, string? notice)
    {
        var payload = JsonNode.Parse(row.Payload)!;
        string E(object? value) => WebUtility.HtmlEncode(value?.ToString() ?? "");
        var html = new StringBuilder();
        if (notice is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p class=\"notice\" role=\"status\">{E(notice)}</p>");
        }
        html.Append(CultureInfo.InvariantCulture, $"<h1>Complaint {E(payload["reference"])} at {E(payload["supplier"])}</h1>");
        html.Append(CultureInfo.InvariantCulture, $"<p>Open for {E(payload["days_open"])} days. Current answer: <strong id=\"status\">{E(row.Status.Replace('_', ' '))}</strong></p>");
        html.Append(CultureInfo.InvariantCulture, $"<h2>What we ask</h2><p>{E(payload["ask"])}</p><h2>Provisions</h2><ul>");
        foreach (var provision in payload["provisions"]!.AsArray())
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{E(provision!["number"])} {E(provision["title"])}</li>");
        }
        html.Append(CultureInfo.InvariantCulture, $"</ul><h2>Summary</h2><p>{E(payload["summary"] ?? "(to follow)")}</p>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <form method="post" action="/buyer/escalations/{row.Id}?token={Uri.EscapeDataString(token)}">
              <label for="note">What you did or will do (optional)</label><br>
              <textarea id="note" name="note" rows="4" cols="60" maxlength="2000"></textarea><br>
              <button name="answer" value="acknowledged">Acknowledged</button>
              <button name="answer" value="action_taken">Action taken</button>
            </form>
            """);
        return html.ToString();
    }

    private static IResult Page(HttpStatusCode status, string body) => Results.Content(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">" +
        "<title>WSR escalation</title></head><body>" + (body.StartsWith('<') ? body : "<p>" + WebUtility.HtmlEncode(body) + "</p>") + "</body></html>",
        "text/html; charset=utf-8", Encoding.UTF8, (int)status);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Information, Message = "Buyer answered escalation {EscalationId}: {Answer}")]
    private static partial void LogAnswered(ILogger logger, long escalationId, string answer);
}
