-- A conference per answered call, its participants, presence that follows the call, and wrap-up.

-- The call's own Twilio conference (named call-{id}), known from its first status callback.
-- A warm transfer on its way: the colleague it rings and the investigator who leaves once they are in.
ALTER TABLE calls
    ADD COLUMN conference_sid text,
    ADD COLUMN conference_ended_at timestamptz,
    ADD COLUMN transfer_to_staff_id integer REFERENCES staff (id),
    ADD COLUMN transfer_from_staff_id integer REFERENCES staff (id);

-- Who was in the call's conference, as Twilio's conference status callbacks report them. One row
-- per participant leg (a CallSid); a control (hold, mute) acts on these legs through Twilio's
-- Participants API, and the timeline says who joined and for how long from joined_at/left_at.
CREATE TABLE call_participants (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id    bigint NOT NULL REFERENCES calls (id),
    call_sid   text NOT NULL,
    role       text NOT NULL CHECK (role IN ('worker', 'investigator', 'interpreter', 'coordinator')),
    staff_id   integer REFERENCES staff (id),
    label      text,
    joined_at  timestamptz,
    left_at    timestamptz,
    muted      boolean NOT NULL DEFAULT false,
    held       boolean NOT NULL DEFAULT false,
    coaching   boolean NOT NULL DEFAULT false,
    UNIQUE (call_id, call_sid)
);
CREATE INDEX call_participants_present ON call_participants (call_id) WHERE left_at IS NULL;

-- What an investigator is doing, apart from what they chose (status): idle, on a call, or wrapping
-- one up until wrap_up_until (past it they count as idle, whether or not the job has run yet).
ALTER TABLE staff_presence
    ADD COLUMN activity text NOT NULL DEFAULT 'idle' CHECK (activity IN ('idle', 'on_call', 'wrap_up')),
    ADD COLUMN activity_call_id bigint REFERENCES calls (id),
    ADD COLUMN wrap_up_until timestamptz;

-- The investigator's wrap-up of a call: a disposition from the configured list and a note (encrypted
-- like case notes: it may hold the worker's words).
CREATE TABLE call_wrap_ups (
    call_id        bigint NOT NULL REFERENCES calls (id),
    staff_id       integer NOT NULL REFERENCES staff (id),
    disposition    text NOT NULL,
    note_encrypted text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, staff_id)
);
