-- The outbound sender hands replies over one at a time: 'pending' → 'claimed' (a sender holds it,
-- nothing sent yet) → 'handing_over' (committed just before its POST to Twilio) → Twilio's statuses,
-- or back to 'pending' (a retry, or a claim whose sender stopped before handing it over), or
-- 'failed'. Only a reply still 'handing_over' when its lease runs out may have gone out unrecorded:
-- that one is failed, never resent; one still 'claimed' was never attempted and is put back.

-- Rows claimed by the previous sender (which claimed up to 20 at once) may have been posted: they
-- are treated as handed over, as that sender treated them.
UPDATE messages SET status = 'handing_over'
WHERE direction = 'outbound' AND status = 'claimed';

DROP INDEX messages_outbound_sending;
CREATE INDEX messages_outbound_sending ON messages (lease_until)
    WHERE direction = 'outbound' AND status IN ('claimed', 'handing_over');
