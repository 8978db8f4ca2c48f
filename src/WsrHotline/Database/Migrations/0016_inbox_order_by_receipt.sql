-- A sender's texts are processed in the order they first reached the hotline (received_at, then id),
-- not in id order: a text replayed from an instance's outage spool keeps the time it arrived, so it
-- takes its place among the texts other instances kept or took in meanwhile.
DROP INDEX inbound_inbox_sender_due;
CREATE INDEX inbound_inbox_sender_due ON inbound_inbox (sender_key, received_at, id) WHERE failed_at IS NULL;
