using System.Text.Json;
using System.Text.RegularExpressions;
using WsrHotline.LiveConsole;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>The timeline for people: each kind the code writes reads as a sentence (LiveConsole/TimelineSentences.cs).</summary>
public sealed partial class TimelineSentencesTests
{
    private static readonly DateTime At = new(2026, 12, 4, 21, 0, 0, DateTimeKind.Utc);

    private static readonly TimelineContext Context = new(
        new Dictionary<int, string> { [7] = "Rahima Akter", [8] = "Carlos Ruiz" },
        new Dictionary<string, string>(StringComparer.Ordinal) { ["es"] = "Spanish", ["bn"] = "Bengali" });

    public static TheoryData<string, string, string?, string, string> Entries => new()
    {
        { "complaint.opened", "system", null, """{"channel":"whatsapp","language":"es"}""", "Case opened from a WhatsApp message, in Spanish" },
        { "clocks.opened", "system", null, """{"clocks":[{"Kind":"acknowledged","DueAt":"2026-12-04T22:00:00Z"},{"Kind":"first_contact","DueAt":"2026-12-05T21:00:00Z"}]}""", "Clocks started: acknowledgement, first contact" },
        { "clocks.opened", "system", null, """{"clocks":[{"Kind":"first_contact"}],"reopened":true}""", "Clocks restarted: first contact" },
        { "clocks.recomputed", "staff", "Carlos Ruiz", """{"clocks":[{"kind":"resolved","old_due_at":"x","due_at":"y"}]}""", "Clocks recalculated for the new severity: resolution" },
        { "clock.met", "staff", "Rahima Akter", """{"kind":"acknowledged","due_at":"2026-12-04T21:03:00Z","late":false}""", "Acknowledgement clock met by Rahima Akter, 3 min before due" },
        { "clock.met", "system", null, """{"kind":"first_contact","due_at":"2026-12-04T19:00:00Z","late":true}""", "First contact clock met, 2 h after due" },
        { "clock.closed", "system", null, """{"kind":"resolved","due_at":"2026-12-18T21:00:00Z"}""", "Resolution clock closed, no longer running" },
        { "message.received", "worker", null, """{"message_sid":"SM1","channel":"whatsapp","num_media":2}""", "Worker sent a WhatsApp message with 2 attachments" },
        { "message.received", "worker", null, """{"message_sid":"SM1","channel":"sms","num_media":0}""", "Worker sent an SMS" },
        { "message.staff_reply", "staff", "Rahima Akter", """{"message_id":4,"channel":"whatsapp"}""", "Rahima Akter replied by WhatsApp" },
        { "message.template", "system", null, """{"message_id":4,"purpose":"case_confirmation","template":"x"}""", "The hotline sent its case confirmation message as an approved WhatsApp template" },
        { "message.delivery", "system", null, """{"message_sid":"SM1","status":"undelivered","error_code":30003}""", "A message to the worker was undelivered (error 30003)" },
        { "message.failed", "system", null, """{"message_id":4,"attempts":5,"error_code":null,"error":"timeout"}""", "A message to the worker could not be sent after 5 attempts" },
        { "message.unconfigured_number", "system", null, """{"channel":"sms"}""", "Worker texted a hotline number the settings do not list (by SMS)" },
        { "messaging.opted_out", "worker", null, """{"channel":"sms"}""", "Worker opted out of texts (STOP): no more texts are sent" },
        { "messaging.opted_in", "worker", null, """{"channel":"sms"}""", "Worker opted back in to texts" },
        { "media.stored", "system", null, """{"content_type":"image/jpeg"}""", "The worker's attachment was kept (image/jpeg)" },
        { "media.refused", "system", null, """{"reason":"type","content_type":"application/zip"}""", "The worker's attachment was refused (a type the hotline does not accept)" },
        { "media.failed", "system", null, "{}", "The worker's attachment could not be fetched" },
        { "status.checked", "worker", null, """{"channel":"voice"}""", "Worker checked the case's status by phone" },
        { "status.locked", "system", null, """{"channel":"sms","wrong_pins":3,"locked_minutes":15}""", "Status checks locked for 15 min after 3 wrong PINs" },
        { "case_number.told", "system", null, """{"channel":"voice","pin_issued":true}""", "Worker was told the case number and PIN on the call" },
        { "call.received", "worker", null, """{"call_sid":"CA1","language":"bn"}""", "Worker called the hotline, in Bengali" },
        { "call.joined_case", "worker", null, """{"call_id":3}""", "Worker called again about this case" },
        { "call.routing", "system", null, """{"language":"es"}""", "Worker asked for an investigator; the call waits in the Spanish queue" },
        { "call.offered_console", "system", null, """{"language":"es","staff_ids":[7,8],"seconds":15}""", "Call offered in the console to Rahima Akter and Carlos Ruiz" },
        { "call.console_missed", "system", null, """{"language":"es"}""", "Nobody took the call in the console in time; on-call phones rang next" },
        { "call.accepted_console", "staff", "Carlos Ruiz", """{"answer_mode":"browser"}""", "Carlos Ruiz accepted the call in the console (in the browser)" },
        { "call.console_leg_failed", "system", "Carlos Ruiz", "{}", "The call could not reach Carlos Ruiz's console" },
        { "call.rung", "system", null, """{"tier":1,"staff_ids":[8]}""", "Rang Carlos Ruiz (on-call tier 1)" },
        { "call.declined", "staff", "Carlos Ruiz", """{"tier":1}""", "Carlos Ruiz declined the call" },
        { "call.leg_ended", "system", "Carlos Ruiz", """{"tier":1,"outcome":"no-answer"}""", "The call to Carlos Ruiz ended: no-answer" },
        { "call.transfer_offered", "staff", "Carlos Ruiz", """{"to_staff_id":7}""", "Carlos Ruiz offered the call to Rahima Akter" },
        { "call.transfer_offered", "staff", "Carlos Ruiz", """{"to_language":"bn","from_language":"es","staff_ids":[7]}""", "Carlos Ruiz offered the call to the Bengali queue: Rahima Akter" },
        { "call.transfer_accepted", "staff", "Rahima Akter", """{"answer_mode":"browser","language":null}""", "Rahima Akter accepted the transferred call" },
        { "call.transfer_accepted", "staff", "Rahima Akter", """{"answer_mode":"browser","language":"bn"}""", "Rahima Akter accepted the call transferred to the Bengali queue" },
        { "call.transferred", "system", "Rahima Akter", """{"from_staff_id":8,"to_staff_id":7}""", "The call passed from Carlos Ruiz to Rahima Akter" },
        { "call.transferred", "system", "Rahima Akter", """{"from_staff_id":8,"to_staff_id":7,"from_language":"es","to_language":"bn"}""", "The call passed from Carlos Ruiz to Rahima Akter, and is in Bengali from now on" },
        { "call.no_answer", "system", null, """{"tiers_rung":2,"waited_seconds":"95"}""", "Nobody answered after 1 min 35 s (2 tiers rung)" },
        { "call.answered", "staff", "Rahima Akter", """{"leg":"x"}""", "Rahima Akter answered the call" },
        { "call.abandoned", "worker", null, """{"stage":"menu"}""", "Worker hung up before reaching anyone (menu)" },
        { "call.ended", "system", null, """{"status":"completed","duration_seconds":"125"}""", "Call ended after 2 min 5 s" },
        { "voicemail.left", "worker", null, """{"recording_sid":"RE1","duration_seconds":"25"}""", "Worker left a 25 s voicemail" },
        { "voicemail.left", "worker", null, """{"recording_sid":"RE1","during_outage":true}""", "Worker left a voicemail during a database outage" },
        { "voicemail.recording_stored", "system", null, """{"recording_sid":"RE1","duration_seconds":"25"}""", "The voicemail recording (25 s) was kept" },
        { "callback.owed", "system", null, """{"reason":"voicemail","due_in_minutes":30}""", "A callback is owed within 30 min (voicemail)" },
        { "complaint.status_changed", "staff", "Carlos Ruiz", """{"from":"received","to":"acknowledged","note_id":null}""", "Carlos Ruiz moved the case from received to acknowledged" },
        { "complaint.reopened", "worker", null, """{"reason":"retaliation_checkin","from_status":"resolved","status":"investigating"}""", "Case reopened: the worker answered a retaliation check-in with a problem" },
        { "complaint.reopened", "staff", "Carlos Ruiz", """{"from":"resolved","to":"investigating"}""", "Carlos Ruiz reopened the case (resolved to investigating)" },
        { "complaint.severity_changed", "staff", "Carlos Ruiz", """{"from":"standard","to":"zero_tolerance"}""", "Carlos Ruiz changed the severity from standard to zero tolerance" },
        { "complaint.confidentiality_changed", "staff", "Carlos Ruiz", """{"from":"confidential","to":"anonymous"}""", "Carlos Ruiz changed the confidentiality from confidential to anonymous" },
        { "complaint.classified", "staff", "Carlos Ruiz", """{"added":["2.1","3.4"],"removed":["1.2"]}""", "Carlos Ruiz classified the case under the Code: added 2.1, 3.4; removed 1.2" },
        { "complaint.supplier_changed", "staff", "Carlos Ruiz", """{"supplier_id":3,"outside_program_by_name":false}""", "Carlos Ruiz set the employer" },
        { "complaint.assigned", "staff", "Carlos Ruiz", """{"from_staff_id":null,"to_staff_id":7}""", "Carlos Ruiz assigned the case to Rahima Akter" },
        { "complaint.assigned", "staff", "Carlos Ruiz", """{"from_staff_id":7,"to_staff_id":null}""", "Carlos Ruiz unassigned the case" },
        { "complaint.restricted", "staff", "Ana Díaz", """{"from_team":null,"team":"north"}""", "Ana Díaz restricted the case to team north" },
        { "complaint.unrestricted", "staff", "Ana Díaz", """{"from_team":"north","team":null}""", "Ana Díaz lifted the case's restriction" },
        { "summary.changed", "staff", "Carlos Ruiz", """{"version":2,"length":140}""", "Carlos Ruiz updated the shareable summary (version 2)" },
        { "note.added", "staff", "Carlos Ruiz", """{"note_id":5,"length":40}""", "Carlos Ruiz added a private note" },
        { "disclosure.decision_recorded", "staff", "Carlos Ruiz", """{"decision_id":1,"decision":"may_share_name","how":"by_phone"}""", "Carlos Ruiz recorded the worker's decision: may share name (by phone)" },
        { "caller.number_revealed", "staff", "Carlos Ruiz", "{}", "Carlos Ruiz revealed the caller's number" },
        { "escalation.recorded", "system", null, """{"level":"investigator_warning","kind":"acknowledged","escalations":[]}""", "Investigators warned: the acknowledgement clock is due soon" },
        { "escalation.recorded", "system", null, """{"level":"coordinator_alert","reason":"clock.breached","kind":"first_contact"}""", "Coordinators alerted: the first contact clock breached" },
        { "escalation.recorded", "system", null, """{"level":"no_buyer","why":"no_supplier","kind":"resolved"}""", "No buyer to escalate to (no supplier): the coordinators were told" },
        { "escalation.attempt", "system", null, """{"escalation_id":1,"channel":"email","attempt":2,"outcome":"failed"}""", "Escalation by e-mail: failed (attempt 2)" },
        { "escalation.answered", "buyer", null, """{"escalation_id":1,"answer":"action_taken"}""", "A buyer answered the escalation: action taken" },
        { "retaliation.checkin_queued", "system", null, """{"after_days":30,"message_id":9,"suppressed":false}""", "Retaliation check-in sent to the worker, 30 days on" },
        { "retaliation.checkin_skipped", "system", null, """{"after_days":30,"reason":"no_number"}""", "Retaliation check-in of day 30 skipped (no number)" },
        { "retaliation.checkin_answered", "worker", null, """{"after_days":30,"answer":"all_well"}""", "Worker answered the retaliation check-in: all is well" },
        // A kind without a sentence of its own still reads as one.
        { "call.recorded_elsewhere", "staff", "Carlos Ruiz", """{"to_staff_id":7}""", "Carlos Ruiz: call recorded elsewhere" },
    };

    [Theory]
    [MemberData(nameof(Entries))]
    public void Each_kind_reads_as_a_sentence(string kind, string actorKind, string? actorName, string details, string expected)
    {
        using var document = JsonDocument.Parse(details);
        Assert.Equal(expected, TimelineSentences.For(new TimelineEntry(kind, actorKind, actorName, At, document.RootElement, Context)));
    }

    [Fact]
    public void Every_kind_the_code_writes_has_its_sentence()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "WsrHotline.sln")))
        {
            root = root.Parent ?? throw new InvalidOperationException("WsrHotline.sln not found");
        }
        var written = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root.FullName, "src", "WsrHotline"), "*.cs", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            foreach (Match call in TimelineWrite().Matches(text))
            {
                foreach (Match kind in KindLiteral().Matches(call.Value))
                {
                    written.Add(kind.Groups[1].Value);
                }
            }
        }
        Assert.Contains("voicemail.left", written);
        var missing = written.Where(k => !TimelineSentences.Kinds.Contains(k)).ToList();
        Assert.True(missing.Count == 0,
            "timeline kinds with no sentence (add one line each to LiveConsole/TimelineSentences.cs): " + string.Join(", ", missing));
    }

    // A call that writes a timeline entry, up to the end of its statement.
    [GeneratedRegex(@"(?:AppendTimelineAsync|Timeline\.AppendAsync|change\.RecordAsync|MediaNotices\.RecordAsync|NoticeAsync)\((?:[^;]|\n)*?;")]
    private static partial Regex TimelineWrite();

    [GeneratedRegex("\"([a-z_]+\\.[a-z_]+)\"")]
    private static partial Regex KindLiteral();
}
