-- Voice intake: where each call is in the IVR, who was rung for it, and the callbacks the hotline owes.

ALTER TABLE calls
    -- The IVR step the caller is in (a step id of ivr-flows/hotline.yaml, or 'emergency').
    ADD COLUMN stage text NOT NULL DEFAULT 'incoming',
    -- Ordering of Twilio's call statuses, so a late or repeated callback never rolls a call back.
    ADD COLUMN status_rank smallint NOT NULL DEFAULT 0,
    ADD COLUMN routing_started_at timestamptz,
    -- The highest on-call tier rung so far (0: none).
    ADD COLUMN tier_rung smallint NOT NULL DEFAULT 0,
    -- When (in Twilio's QueueTime, seconds since the caller joined the queue) that tier was rung.
    ADD COLUMN tier_rung_queue_time integer,
    ADD COLUMN voicemail_at timestamptz;

-- One outbound call to an investigator's phone for an inbound call. The unique key makes ringing a
-- tier idempotent, however often Twilio asks the wait URL.
CREATE TABLE call_legs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id       bigint NOT NULL REFERENCES calls (id),
    staff_id      integer NOT NULL REFERENCES staff (id),
    tier          smallint NOT NULL,
    leg_call_sid  text UNIQUE,
    status        text NOT NULL DEFAULT 'pending',
    status_rank   smallint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    answered_at   timestamptz,
    ended_at      timestamptz,
    duration_seconds integer,
    UNIQUE (call_id, staff_id, tier)
);
CREATE INDEX call_legs_call ON call_legs (call_id, tier);

-- A callback the hotline owes a worker: after every voicemail and every call abandoned in the menu
-- or while ringing (unless the number was withheld). Its clock is due_at.
CREATE TABLE callback_tasks (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id            bigint NOT NULL UNIQUE REFERENCES calls (id),
    complaint_id       bigint REFERENCES complaints (id),
    caller_identity_id bigint NOT NULL REFERENCES caller_identities (id),
    language_code      text REFERENCES languages (code),
    reason             text NOT NULL CHECK (reason IN ('voicemail', 'abandoned_menu', 'abandoned_ringing')),
    due_at             timestamptz NOT NULL,
    done_at            timestamptz,
    done_by            integer REFERENCES staff (id),
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_tasks_due ON callback_tasks (due_at) WHERE done_at IS NULL;

-- Whether the worker has been told the PIN of the complaint (it is re-issued when they have not).
ALTER TABLE complaints ADD COLUMN pin_told_at timestamptz;
