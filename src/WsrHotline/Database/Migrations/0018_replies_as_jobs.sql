-- Replies, downloads and buyer deliveries are Hangfire jobs (one per row). A reply's job marks it
-- 'handing_over' with its own Hangfire job id just before the POST to Twilio: when Hangfire runs
-- that job again after its instance died, the job finds its own hand-over and fails the reply
-- instead of sending it twice. A reply another job handed over is left alone.
ALTER TABLE messages ADD COLUMN handed_over_by text;

-- The old sender's claims without a hand-over were never posted: they go back to be sent. Its
-- hand-overs in flight have no job to finish them: failed, as its lease expiry would have.
UPDATE messages SET status = 'pending', lease_until = NULL
WHERE direction = 'outbound' AND status = 'claimed';
UPDATE messages SET status = 'failed', lease_until = NULL,
                    last_error = 'interrupted: the sender stopped while handing it to Twilio; not resent, it may have gone out'
WHERE direction = 'outbound' AND status = 'handing_over';

-- No sender holds a lease any more (messages_outbound_due still serves the forgotten-work job).
DROP INDEX messages_outbound_sending;
DROP INDEX message_media_fetching;
