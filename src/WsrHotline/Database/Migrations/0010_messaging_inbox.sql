-- The messaging inbox: every inbound text Twilio posts is kept here first, durably, and the webhook
-- answers as soon as its row is committed; the inbox processor then handles it (identity,
-- conversation, complaint, replies) and marks it processed in that same transaction.

CREATE TABLE inbound_inbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Twilio's MessageSid: a retried webhook adds no second row.
    message_sid     text NOT NULL UNIQUE,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- The sender's ordering key: the first 8 bytes of the keyed lookup hash of their number (never the
    -- number). One sender's messages are processed one at a time, in id order.
    sender_key      bigint NOT NULL,
    -- Channel, sender, words and attachment addresses as one JSON value, encrypted (PiiProtector,
    -- purpose 'message.inbox').
    payload_encrypted text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    -- A row whose processing failed waits until then (NULL: due at once).
    next_attempt_at timestamptz,
    processed_at    timestamptz,
    -- Every attempt failed: given up, shown to staff (log, /health/ready).
    failed_at       timestamptz,
    -- The last error's type name only: never its message, which may quote the worker's number or words.
    last_error      text,
    CHECK (processed_at IS NULL OR failed_at IS NULL)
);

-- The processor's work: unfinished rows in arrival order, and per sender (is an earlier one unfinished?).
CREATE INDEX inbound_inbox_due ON inbound_inbox (id) WHERE processed_at IS NULL AND failed_at IS NULL;
CREATE INDEX inbound_inbox_sender_due ON inbound_inbox (sender_key, id) WHERE processed_at IS NULL AND failed_at IS NULL;
-- Failed rows, for the readiness report and staff.
CREATE INDEX inbound_inbox_failed ON inbound_inbox (failed_at) WHERE failed_at IS NOT NULL;
