-- The inbox keeps only what is still to be done: the processing transaction deletes the row it has
-- handled (the message itself is in messages by then, where its MessageSid still stops a retried
-- webhook from being handled twice), and failed rows stay for staff.
--
-- Why: processed rows kept forever made the processor's claim depend on the planner. Once the
-- statistics had been gathered while a flood was waiting, the planner took the primary key and
-- stepped over every processed row ever kept, on every claim: in the messaging benchmark claims
-- took 5-25 s each and processing fell from about 500 to 17-150 texts/s. The words and the sender
-- (encrypted) also no longer linger in a second place after processing.

DROP INDEX inbound_inbox_due;
DROP INDEX inbound_inbox_sender_due;
DELETE FROM inbound_inbox WHERE processed_at IS NOT NULL;
ALTER TABLE inbound_inbox DROP COLUMN processed_at;

-- The processor's work: unfinished rows in arrival order, and per sender (is an earlier one unfinished?).
CREATE INDEX inbound_inbox_due ON inbound_inbox (id) WHERE failed_at IS NULL;
CREATE INDEX inbound_inbox_sender_due ON inbound_inbox (sender_key, id) WHERE failed_at IS NULL;
