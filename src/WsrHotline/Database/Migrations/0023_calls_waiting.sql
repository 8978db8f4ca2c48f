-- The calls waiting in their queue now (the dashboard's live queue view, read on every live event):
-- only the few rows of calls in the queue's stage, not yet claimed and not ended, so counting them
-- never scans every call ever taken.
CREATE INDEX calls_waiting ON calls (language_code) INCLUDE (console_offered_at)
    WHERE direction = 'inbound' AND stage = 'connect' AND answered_by IS NULL AND status_rank < 5;
