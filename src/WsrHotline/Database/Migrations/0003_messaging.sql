-- SMS/WhatsApp intake: one conversation per worker and channel, and the outbound queue on messages.

-- A worker's thread on one channel. Its row is locked by every inbound webhook of that worker
-- (INSERT … ON CONFLICT DO UPDATE), so two messages arriving together cannot open two complaints.
CREATE TABLE conversations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller_identity_id bigint NOT NULL REFERENCES caller_identities (id),
    channel            text NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    -- Null until the worker's language is known (detected from the text or chosen at the menu).
    language_code      text REFERENCES languages (code),
    state              text NOT NULL DEFAULT 'awaiting_language' CHECK (state IN ('awaiting_language', 'open')),
    -- WhatsApp allows free text only within 24 hours of the worker's last message.
    last_inbound_at    timestamptz NOT NULL DEFAULT now(),
    -- STOP (or Twilio's error 21610): nothing is sent on this conversation until START.
    opted_out_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (caller_identity_id, channel)
);

ALTER TABLE messages
    ADD COLUMN conversation_id bigint REFERENCES conversations (id),
    -- Outbound: which text this is (welcome, case_opened, status, …), for the console and templates.
    ADD COLUMN purpose text,
    -- Ordering of Twilio's message statuses, so a late or repeated callback never rolls a message back.
    ADD COLUMN status_rank smallint NOT NULL DEFAULT 0,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    -- Set when a sender claims the row ('claimed'); a claim that outlives it was interrupted.
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN sent_at timestamptz,
    ADD COLUMN last_error text;
-- Outbound status: 'pending' (to send) → 'claimed' (a sender is sending it) → Twilio's own statuses
-- (queued, sent, delivered, undelivered, failed, read); or 'suppressed' (the worker opted out) or
-- 'failed' (our side gave up). No CHECK: Twilio adds statuses, and a callback must never be refused.

-- The sender's work: pending rows by due time, and claims to expire.
CREATE INDEX messages_outbound_due ON messages (next_attempt_at, id)
    WHERE direction = 'outbound' AND status = 'pending';
CREATE INDEX messages_outbound_sending ON messages (lease_until)
    WHERE direction = 'outbound' AND status = 'claimed';
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
