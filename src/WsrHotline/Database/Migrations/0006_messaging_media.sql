-- Messaging media: workers' photos, documents and voice notes copied out of Twilio into the
-- hotline's own storage (encrypted, in this database), and the WhatsApp template a reply went out as.

-- One row per attachment of an inbound message (MediaUrl{N}), written in the message's transaction.
-- The row is also the fetcher's work item: 'pending' → 'claimed' (a fetcher is downloading it, with
-- a lease) → 'stored'; or 'refused' (a type or size the hotline does not keep, the worker is told),
-- or 'failed' (every attempt failed, shown on the complaint).
CREATE TABLE message_media (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id            bigint NOT NULL REFERENCES messages (id),
    -- N of MediaUrl{N}: with the message, the idempotency key of a retried webhook.
    position              smallint NOT NULL CHECK (position >= 0),
    -- Twilio's address of the file: it serves the worker's photo to whoever holds the account's
    -- credentials, so it is encrypted like PII and never logged.
    url_encrypted         text NOT NULL,
    -- MediaContentType{N} as Twilio announced it, and the type the download actually had.
    declared_content_type text NOT NULL,
    content_type          text,
    size_bytes            bigint,
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'claimed', 'stored', 'refused', 'failed')),
    -- Why a file was refused: 'type' or 'size'.
    refused_reason        text CHECK (refused_reason IN ('type', 'size')),
    attempts              integer NOT NULL DEFAULT 0,
    next_attempt_at       timestamptz NOT NULL DEFAULT now(),
    lease_until           timestamptz,
    last_error            text,
    -- The file, AES-256-GCM: key id, nonce, ciphertext and tag (see PiiProtector.EncryptBytes).
    content_encrypted     bytea,
    fetched_at            timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, position),
    CHECK ((status = 'stored') = (content_encrypted IS NOT NULL))
);
-- Ciphertext does not compress: store it out of line without trying.
ALTER TABLE message_media ALTER COLUMN content_encrypted SET STORAGE EXTERNAL;

-- The fetcher's work: pending files by due time, and claims to expire.
CREATE INDEX message_media_due ON message_media (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX message_media_fetching ON message_media (lease_until) WHERE status = 'claimed';

-- Outbound: the approved WhatsApp template (Twilio ContentSid, "HX…") a reply was sent as, because the
-- worker's last message was more than 24 hours old; null when it went as the free text in body_encrypted.
ALTER TABLE messages ADD COLUMN content_sid text;
