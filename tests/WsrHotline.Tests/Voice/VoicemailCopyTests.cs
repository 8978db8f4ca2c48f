using System.Text;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Jobs;
using WsrHotline.Reconciliation;
using WsrHotline.Simulator;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// A voicemail is copied out of Twilio into the hotline's own storage, encrypted, and Twilio's copy is
/// then deleted: end to end through the simulator, whose REST stand-in serves and deletes recordings
/// as Twilio does. No Hangfire server runs in the tests: the copy job is run here, as a worker would.
/// </summary>
public sealed class VoicemailCopyTests
{
    private const string Worker = "+15555550133";

    /// <summary>The worker calls, picks Spanish and leaves a message from the main menu (3); returns the call.</summary>
    internal static async Task<SimulatedCall> LeaveVoicemailAsync(VoiceScenario scenario, string worker, int seconds = 25)
    {
        var call = await scenario.Simulator.CallAsync(from: worker);
        await call.PressAsync("2");
        await call.PressAsync("3");
        Assert.True(call.State == CallState.Recording, string.Join("\n", call.Transcript));
        await call.RecordAsync(TimeSpan.FromSeconds(seconds), thenHangUp: false);
        await call.WaitAsync(TimeSpan.FromSeconds(60));
        return call;
    }

    /// <summary>Runs the copy job of every recording still to copy or delete; returns how many ran.</summary>
    internal static async Task<int> RunCopiesAsync(VoiceScenario scenario)
    {
        var copies = scenario.Hotline.Factory.Services.GetRequiredService<VoicemailCopies>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var due = (await connection.QueryAsync<long>(
            "SELECT id FROM voicemail_recordings WHERE status IN ('pending', 'claimed') OR (status = 'stored' AND twilio_deleted_at IS NULL) ORDER BY id")).ToList();
        foreach (var id in due)
        {
            try
            {
                await copies.CopyAsync(id, CancellationToken.None);
            }
            catch (Exception ex) when (ex is JobWillRetryException or JobGaveUpException)
            {
            }
        }
        return due.Count;
    }

    [Fact]
    public async Task A_voicemail_is_copied_encrypted_then_deleted_from_twilio_and_the_reconciliation_neither_refinds_nor_loses_it()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var started = DateTimeOffset.UtcNow;
        var call = await LeaveVoicemailAsync(scenario, Worker);
        Assert.Contains(scenario.Text("es", "voicemail_offer"), call.Heard);
        Assert.Contains(scenario.Text("es", "voicemail_saved"), call.Heard);

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var recording = await connection.QuerySingleAsync<(long Id, string Sid, string Status, long ComplaintId)>("""
            SELECT r.id, r.recording_sid AS sid, r.status, c.complaint_id FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id WHERE c.call_sid = @Sid
            """, new { call.Sid });
        // The webhook only recorded the work: the copy is the job's.
        Assert.Equal("pending", recording.Status);
        Assert.Equal(25, scenario.Simulator.RecordingDuration(recording.Sid));

        Assert.Equal(1, await RunCopiesAsync(scenario));

        var stored = await connection.QuerySingleAsync<(string Status, byte[] Content, long Size, DateTime? DeletedAt, string ContentType)>(
            "SELECT status, content_encrypted AS content, size_bytes AS size, twilio_deleted_at AS deletedat, content_type AS contenttype FROM voicemail_recordings WHERE id = @Id",
            new { recording.Id });
        Assert.Equal("stored", stored.Status);
        Assert.NotNull(stored.DeletedAt);
        Assert.Equal("audio/wav", stored.ContentType);
        // The stand-in no longer has it: not served, not listed.
        Assert.Null(scenario.Simulator.RecordingDuration(recording.Sid));
        // Encrypted at rest: the raw column holds no WAV header.
        var raw = Encoding.ASCII.GetString(stored.Content);
        Assert.DoesNotContain("RIFF", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("WAVE", raw, StringComparison.Ordinal);
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM voicemail_recordings WHERE position('RIFF'::bytea in content_encrypted) > 0"));
        // …and decrypts to the worker's recording.
        var audio = await scenario.Hotline.Factory.Services.GetRequiredService<RecordingStore>().OpenDecryptedAsync(recording.Id, CancellationToken.None);
        Assert.NotNull(audio);
        Assert.Equal("RIFF", Encoding.ASCII.GetString(audio.Content, 0, 4));
        Assert.Equal(stored.Size, audio.Content.Length);
        Assert.Equal(recording.ComplaintId, audio.ComplaintId);

        var timeline = await scenario.TimelineAsync(recording.ComplaintId);
        Assert.Contains("voicemail.copied", timeline);
        Assert.Contains("voicemail.twilio_copy_deleted", timeline);

        // Run again: nothing to do, nothing written twice.
        Assert.Equal(0, await RunCopiesAsync(scenario));
        Assert.Single(await scenario.TimelineAsync(recording.ComplaintId), kind => kind == "voicemail.twilio_copy_deleted");

        // Twilio no longer lists it, and the hotline still knows it: the reconciliation takes in nothing and flags nothing.
        var run = await scenario.Hotline.Factory.Services.GetRequiredService<TwilioReconciliation>()
            .RunAsync("manual", started.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        Assert.Equal((0, 0, 0), (run.RecordingsListed, run.RecordingsTakenIn, run.RecordingsFlagged));
        Assert.Equal(recording.Sid, await connection.ExecuteScalarAsync<string>("SELECT recording_sid FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM unmatched_recordings"));

        // Nothing logged the recording's address.
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.DoesNotContain("/Recordings/" + recording.Sid, logs, StringComparison.Ordinal);
        Assert.DoesNotContain("/simulator/recordings/", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_copy_that_cannot_download_is_retried_then_failed_on_the_timeline_and_nothing_is_stored()
    {
        await using var scenario = await VoiceScenario.StartAsync(s =>
        {
            s["Voice:RecordingCopyMaxAttempts"] = "2";
            s["Voice:RecordingCopyRetryBaseDelay"] = "00:00:00";
        });
        var call = await LeaveVoicemailAsync(scenario, Worker);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<long>(
            "SELECT r.id FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id WHERE c.call_sid = @Sid", new { call.Sid });
        var sid = (await connection.ExecuteScalarAsync<string>("SELECT recording_sid FROM voicemail_recordings WHERE id = @id", new { id }))!;
        var copies = scenario.Hotline.Factory.Services.GetRequiredService<VoicemailCopies>();

        // Twilio does not serve the audio (404, as before a recording is ready): the job asks Hangfire to retry.
        Assert.True(scenario.Simulator.DeleteRecording(sid));
        await Assert.ThrowsAsync<JobWillRetryException>(() => copies.CopyAsync(id, CancellationToken.None));
        Assert.Equal("pending", await connection.ExecuteScalarAsync<string>("SELECT status FROM voicemail_recordings WHERE id = @id", new { id }));

        // The last attempt fails too: failed for good, on the timeline, and Hangfire is told not to retry.
        await Assert.ThrowsAsync<JobGaveUpException>(() => copies.CopyAsync(id, CancellationToken.None));
        var row = await connection.QuerySingleAsync<(string Status, int Attempts, string LastError)>(
            "SELECT status, attempts, last_error AS lasterror FROM voicemail_recordings WHERE id = @id", new { id });
        Assert.Equal(("failed", 2), (row.Status, row.Attempts));
        Assert.Contains("404", row.LastError, StringComparison.Ordinal);
        var complaint = await connection.ExecuteScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        Assert.Contains("voicemail.copy_failed", await scenario.TimelineAsync(complaint));
        Assert.Null(await scenario.Hotline.Factory.Services.GetRequiredService<RecordingStore>().OpenDecryptedAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task A_twilio_copy_that_cannot_be_deleted_is_tried_a_bounded_number_of_times_then_named_on_the_timeline()
    {
        await using var scenario = await VoiceScenario.StartAsync(s =>
        {
            s["Voice:RecordingCopyMaxAttempts"] = "2";
            s["Voice:RecordingCopyRetryBaseDelay"] = "00:00:00";
        });
        scenario.Simulator.RecordingDeletesFailWith = 503;
        var call = await LeaveVoicemailAsync(scenario, Worker);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<long>(
            "SELECT r.id FROM voicemail_recordings r JOIN calls c ON c.id = r.call_id WHERE c.call_sid = @Sid", new { call.Sid });
        var copies = scenario.Hotline.Factory.Services.GetRequiredService<VoicemailCopies>();
        // The copy is stored, then each delete fails: retried once, then given up, and Hangfire told so.
        await Assert.ThrowsAsync<JobWillRetryException>(() => copies.CopyAsync(id, CancellationToken.None));
        Assert.Equal("stored", await connection.ExecuteScalarAsync<string>("SELECT status FROM voicemail_recordings WHERE id = @id", new { id }));
        await Assert.ThrowsAsync<JobGaveUpException>(() => copies.CopyAsync(id, CancellationToken.None));

        var row = await connection.QuerySingleAsync<(int DeleteAttempts, DateTime? DeletedAt, string LastError)>(
            "SELECT delete_attempts, twilio_deleted_at AS deletedat, last_error AS lasterror FROM voicemail_recordings WHERE id = @id", new { id });
        Assert.Equal((2, (DateTime?)null), (row.DeleteAttempts, row.DeletedAt));
        Assert.Contains("503", row.LastError, StringComparison.Ordinal);
        var complaint = await connection.ExecuteScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        Assert.Equal(1, (await scenario.TimelineAsync(complaint)).Count(kind => kind == "voicemail.twilio_copy_not_deleted"));
        // Given up: neither the job nor the forgotten-work sweep asks Twilio again.
        await copies.CopyAsync(id, CancellationToken.None);
        Assert.Equal(0, await copies.EnqueueForgottenAsync(CancellationToken.None));
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT delete_attempts FROM voicemail_recordings WHERE id = @id", new { id }));
        // The hotline's own copy is kept and plays.
        Assert.NotNull(await scenario.Hotline.Factory.Services.GetRequiredService<RecordingStore>().OpenDecryptedAsync(id, CancellationToken.None));
    }
}
