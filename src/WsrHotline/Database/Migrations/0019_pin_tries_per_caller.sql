-- Wrong PINs are counted per case and per caller (Intake/PinChecks.cs has the rule): someone who
-- knows a case number locks out only themselves, and the worker's own number keeps its tries.
-- The caller is the keyed hash of their number, as caller_identities.phone_lookup holds it (never
-- the number); calls and texts from a withheld number share one row per case (NULL). Not a
-- reference to caller_identities: a first text's identity is not committed yet when its PIN check
-- commits on a connection of its own.
CREATE TABLE pin_check_tries (
    complaint_id    bigint NOT NULL REFERENCES complaints (id),
    caller_lookup   bytea,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    CONSTRAINT pin_check_tries_caller UNIQUE NULLS NOT DISTINCT (complaint_id, caller_lookup)
);

-- complaints.pin_failed_attempts / pin_locked_until now count the wrong PINs from every number but
-- the worker's own, together: many numbers cannot try a case's PIN without limit.
COMMENT ON COLUMN complaints.pin_failed_attempts IS 'wrong PINs from numbers other than the worker''s own, together (PinChecks)';

-- When this call read a case's status out (a verified case number + PIN): hanging up at the main
-- menu afterwards is not an abandoned call, so no callback is owed for it (Voice/VoiceFlow.Callbacks.cs).
ALTER TABLE calls ADD COLUMN status_told_at timestamptz;
