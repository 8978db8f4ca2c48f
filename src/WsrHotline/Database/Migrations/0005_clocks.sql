-- Clocks and escalation: the clock policy (a copy of configuration), when the sweep must next look
-- at a clock, callback clocks, one escalation per buyer contact, coverage gaps and the retaliation watch.

-- The "Clocks" configuration section as rows, rewritten at every start (Deadlines/ClockPolicySync):
-- SQL that opens or recomputes clocks reads it, in the transaction of the change.
-- anchor 'opened': the clock runs from when the complaint was opened (or reopened);
-- anchor 'resolved': from when it was resolved (verification).
CREATE TABLE clock_policies (
    severity          text NOT NULL CHECK (severity IN ('standard', 'retaliation', 'zero_tolerance')),
    kind              text NOT NULL,
    due_after         interval NOT NULL CHECK (due_after > interval '0'),
    anchor            text NOT NULL CHECK (anchor IN ('opened', 'resolved')),
    -- A breach of this clock goes to the Signatory Buyers once buyer_grace has passed too.
    escalate_to_buyer boolean NOT NULL,
    buyer_grace       interval NOT NULL CHECK (buyer_grace >= interval '0'),
    -- The share of the clock's length after which the investigator is warned (Clocks:WarnAt).
    warn_fraction     double precision NOT NULL CHECK (warn_fraction > 0 AND warn_fraction < 1),
    PRIMARY KEY (severity, kind)
);

-- When the sweep must next look at the clock: its warning point (a fraction of its length), its due
-- time, the end of the buyer grace, or null once nothing is left to do. The 75 % point is different
-- for every clock length, so deadlines_due (by due_at) cannot find warnings; this index can.
ALTER TABLE deadlines
    ADD COLUMN next_check_at timestamptz,
    -- A callback clock mirrors one callback_tasks row (kind 'callback'; several may be open at once).
    ADD COLUMN callback_task_id bigint UNIQUE REFERENCES callback_tasks (id),
    -- Why a clock stopped: 'met' (the stage was reached in time or late), 'closed' (the complaint was
    -- closed another way, or the clock no longer applies after a reclassification).
    ADD COLUMN met_reason text CHECK (met_reason IN ('met', 'closed'));
CREATE INDEX deadlines_next_check ON deadlines (next_check_at) WHERE met_at IS NULL AND next_check_at IS NOT NULL;
DROP INDEX deadlines_one_open_per_kind;
CREATE UNIQUE INDEX deadlines_one_open_per_kind ON deadlines (complaint_id, kind)
    WHERE met_at IS NULL AND callback_task_id IS NULL;

-- A callback owed (Voice) is a clock: the trigger keeps one deadline per callback task that belongs
-- to a complaint, opened with it (or when the complaint is linked later) and met when it is done.
-- Callback tasks without a complaint (a caller who hung up in the menu) have no clock (README).
CREATE FUNCTION callback_task_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.complaint_id IS NOT NULL AND NEW.done_at IS NULL THEN
        INSERT INTO deadlines (complaint_id, kind, starts_at, due_at, callback_task_id, next_check_at)
        VALUES (NEW.complaint_id, 'callback', NEW.created_at, greatest(NEW.due_at, NEW.created_at), NEW.id, NEW.created_at)
        ON CONFLICT (callback_task_id) DO NOTHING;
    END IF;
    IF NEW.done_at IS NOT NULL THEN
        UPDATE deadlines SET met_at = NEW.done_at, met_reason = 'met', next_check_at = NULL
        WHERE callback_task_id = NEW.id AND met_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER callback_task_clock
    AFTER INSERT OR UPDATE OF complaint_id, done_at ON callback_tasks
    FOR EACH ROW EXECUTE FUNCTION callback_task_clock();

-- One escalation per buyer contact (each has its own attempts and dead-letter state); 'no_buyer':
-- a breach that would go to buyers but cannot (supplier outside the Program, no supplier, no contact),
-- sent to the coordinators instead and counted for the expansion report.
ALTER TABLE escalations
    ADD COLUMN buyer_contact_id integer REFERENCES buyer_contacts (id),
    DROP CONSTRAINT escalations_level_check,
    ADD CONSTRAINT escalations_level_check
        CHECK (level IN ('investigator_warning', 'coordinator_alert', 'buyer', 'no_buyer'));
DROP INDEX escalations_once;
CREATE UNIQUE INDEX escalations_once ON escalations
    (complaint_id, coalesce(deadline_id, 0), level, coalesce(buyer_id, 0), coalesce(buyer_contact_id, 0), channel);
CREATE INDEX escalations_buyer ON escalations (buyer_id, status) WHERE buyer_id IS NOT NULL;

-- A buyer's webhook secret (HMAC-SHA256 key). Null: the configured Escalation:WebhookSecret.
ALTER TABLE buyer_contacts ADD COLUMN webhook_secret text;

-- Hours in the next 72 in which a hotline language has nobody on call; rewritten by the coverage job.
CREATE TABLE coverage_gaps (
    language_code text NOT NULL REFERENCES languages (code),
    hour_start    timestamptz NOT NULL,
    detected_at   timestamptz NOT NULL,
    PRIMARY KEY (language_code, hour_start)
);

-- Retaliation watch: check-ins 30, 60 and 90 days after a complaint is resolved.
CREATE TABLE retaliation_checkins (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    after_days   integer NOT NULL,
    due_at       timestamptz NOT NULL,
    -- The outbound messages row queued for it (status 'pending' or 'suppressed' when opted out).
    message_id   bigint REFERENCES messages (id),
    queued_at    timestamptz,
    answered_at  timestamptz,
    answer       text CHECK (answer IN ('all_well', 'problem')),
    -- Superseded: the complaint was reopened or a later check-in was queued before an answer came.
    cancelled_at timestamptz,
    UNIQUE (complaint_id, after_days, due_at)
);
CREATE INDEX retaliation_checkins_due ON retaliation_checkins (due_at) WHERE queued_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX retaliation_checkins_waiting ON retaliation_checkins (complaint_id)
    WHERE queued_at IS NOT NULL AND answered_at IS NULL AND cancelled_at IS NULL;

-- Dashboard counts over every complaint are too slow to compute per request at a million complaints:
-- a job refreshes this snapshot (Dashboard/DashboardQueries.RefreshSnapshotAsync) every minute, and
-- the dashboard filters it. provision_id null: one row per combination of the complaint's dimensions;
-- not null: per complaint and provision.
CREATE TABLE dashboard_counts (
    status                text NOT NULL,
    severity              text NOT NULL,
    language_code         text NOT NULL,
    supplier_id           integer,
    outside_supplier_name text,
    provision_id          integer,
    n                     integer NOT NULL
);
CREATE INDEX dashboard_counts_provision ON dashboard_counts (provision_id);
-- One row: when the snapshot was taken, and the unfiltered 90-day resolution figures.
CREATE TABLE dashboard_snapshot (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    refreshed_at timestamptz NOT NULL,
    resolved     integer NOT NULL,
    median_days  double precision,
    p80_days     double precision,
    within_14    integer NOT NULL,
    within_30    integer NOT NULL
);

-- Dashboard: stalled complaints and resolution times over the last 90 days.
CREATE INDEX complaints_open_activity ON complaints (last_activity_at)
    WHERE status NOT IN ('resolved', 'verified', 'not_substantiated', 'rejected', 'referred');
CREATE INDEX complaints_closed_at ON complaints (closed_at) WHERE closed_at IS NOT NULL;
