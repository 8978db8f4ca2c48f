-- Reconciliation against Twilio: after an outage (and daily) the hotline lists the texts and
-- recordings Twilio has for the window and takes in any it never stored.

-- One row per run: what was listed, what was taken in, and the error type of a run that failed.
CREATE TABLE twilio_reconciliations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason              text NOT NULL CHECK (reason IN ('daily', 'outage', 'manual')),
    window_from         timestamptz NOT NULL,
    window_to           timestamptz NOT NULL,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    messages_listed     integer NOT NULL DEFAULT 0,
    messages_taken_in   integer NOT NULL DEFAULT 0,
    recordings_listed   integer NOT NULL DEFAULT 0,
    recordings_taken_in integer NOT NULL DEFAULT 0,
    recordings_flagged  integer NOT NULL DEFAULT 0,
    -- The exception's type name only: never its message.
    error               text
);
CREATE INDEX twilio_reconciliations_started ON twilio_reconciliations (started_at DESC);

-- A recording Twilio has on a call the hotline never saw (its incoming webhook was lost too), or on a
-- call that already has another recording: not guessed into a case, flagged for an admin, who can
-- listen to it in Twilio's console and open a case by hand.
CREATE TABLE unmatched_recordings (
    recording_sid    text PRIMARY KEY,
    call_sid         text NOT NULL,
    call_known       boolean NOT NULL,
    duration_seconds integer,
    recorded_at      timestamptz,
    -- Twilio's address of the audio: it serves the worker's voice, so it is encrypted like PII.
    url_encrypted    text,
    found_at         timestamptz NOT NULL DEFAULT now()
);
