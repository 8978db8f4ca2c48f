using Dapper;
using Npgsql;

namespace WsrHotline.Intake;

/// <summary>How a complaint reached the hotline.</summary>
public static class Channels
{
    public const string Voice = "voice";
    public const string Sms = "sms";
    public const string WhatsApp = "whatsapp";
}

/// <summary>A complaint just opened: the PIN is returned once, to tell the worker, and never stored in clear.</summary>
public sealed record OpenedComplaint(long Id, string CaseNumber, string Pin);

public static class Complaints
{
    /// <summary>
    /// Opens a complaint with a fresh case number and PIN, its first timeline entry and its clocks,
    /// in the caller's transaction.
    /// </summary>
    public static async Task<OpenedComplaint> OpenAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string channel, string languageCode,
        long? callerIdentityId, CancellationToken cancellationToken)
    {
        var pin = Pins.NewPin();
        var pinHash = Pins.Hash(pin);
        while (true)
        {
            var caseNumber = CaseNumbers.NewCaseNumber();
            // A clash with an existing case number yields no row; draw again.
            var id = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
                INSERT INTO complaints (case_number, pin_hash, channel, language_code, caller_identity_id)
                VALUES (@caseNumber, @pinHash, @channel, @languageCode, @callerIdentityId)
                ON CONFLICT (case_number) DO NOTHING
                RETURNING id
                """,
                new { caseNumber, pinHash, channel, languageCode, callerIdentityId },
                transaction, cancellationToken: cancellationToken));
            if (id is { } complaintId)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null,
                    "complaint.opened", new { channel, language = languageCode }, cancellationToken);
                await Deadlines.ComplaintClocks.OpenForNewComplaintAsync(connection, transaction, complaintId, cancellationToken);
                return new OpenedComplaint(complaintId, caseNumber, pin);
            }
        }
    }
}
