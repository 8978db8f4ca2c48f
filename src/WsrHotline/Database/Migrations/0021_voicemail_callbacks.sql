-- Voicemail recordings copied out of Twilio into the hotline's own storage (Voice/VoicemailCopies.cs):
-- one row per recording, its audio encrypted (AES-256-GCM, bound to the row like an attachment).
-- 'pending' → 'claimed' (a copy job has it) → 'stored' (the audio is here) → Twilio's copy deleted
-- (twilio_deleted_at). After the last attempt: 'failed', and Twilio keeps its copy.
CREATE TABLE voicemail_recordings (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id           bigint NOT NULL REFERENCES calls (id),
    recording_sid     text NOT NULL UNIQUE,
    duration_seconds  integer,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'stored', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    content_type      text,
    size_bytes        bigint,
    content_encrypted bytea,
    stored_at         timestamptz,
    twilio_deleted_at timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'stored' OR content_encrypted IS NOT NULL),
    CHECK (twilio_deleted_at IS NULL OR status = 'stored')
);
CREATE INDEX voicemail_recordings_call ON voicemail_recordings (call_id);
-- The forgotten-work job's look-up: copies not finished, and stored copies whose Twilio original is not deleted yet.
CREATE INDEX voicemail_recordings_unfinished ON voicemail_recordings (next_attempt_at)
    WHERE status IN ('pending', 'claimed') OR (status = 'stored' AND twilio_deleted_at IS NULL);

-- How a callback owed was closed: by a call that reached the worker, or by hand with a reason
-- (a fixed list; free text goes into an encrypted case note, closed_note_id).
ALTER TABLE callback_tasks
    ADD COLUMN closed_how text CHECK (closed_how IN ('called_back', 'by_hand')),
    ADD COLUMN closed_reason text
        CHECK (closed_reason IN ('reached_by_text', 'reached_by_phone', 'worker_called_again', 'not_needed', 'other')),
    ADD COLUMN closed_note_id bigint REFERENCES case_notes (id),
    ADD CONSTRAINT callback_tasks_closed_by_hand_has_reason CHECK (closed_how IS DISTINCT FROM 'by_hand' OR closed_reason IS NOT NULL);

-- "Call back" from the console (Voice/CallingBack.cs): the hotline calls the investigator (browser or
-- phone) into a conference of the attempt's own, then the worker from the hotline's number.
CREATE TABLE callback_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    callback_task_id bigint NOT NULL REFERENCES callback_tasks (id),
    staff_id         integer NOT NULL REFERENCES staff (id),
    answer_mode      text NOT NULL CHECK (answer_mode IN ('browser', 'phone')),
    staff_call_sid   text UNIQUE,
    worker_call_sid  text UNIQUE,
    staff_answered_at  timestamptz,
    worker_answered_at timestamptz,
    outcome          text CHECK (outcome IN ('reached', 'no-answer', 'busy', 'failed', 'canceled', 'staff_unreached')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz
);
-- One attempt at a time per callback: a second "Call back" while one is dialling is refused.
CREATE UNIQUE INDEX callback_attempts_one_open ON callback_attempts (callback_task_id) WHERE ended_at IS NULL;
