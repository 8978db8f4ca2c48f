-- Schema v1: the backbone of the hotline. Later capabilities add their own numbered files;
-- an applied file is never edited (the runner refuses a changed checksum).

-- Languages the hotline answers in. Codes are BCP 47 primary tags: en, es, ht, bn.
CREATE TABLE languages (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z]{2,3}$'),
    name        text NOT NULL,
    native_name text NOT NULL,
    active      boolean NOT NULL DEFAULT true
);

-- The Code/Standard: versioned, because the Code is iterated; complaints keep the provision
-- (and so the version) they were classified under.
CREATE TABLE code_versions (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    version        text NOT NULL,
    effective_from date NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE provisions (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_version_id integer NOT NULL REFERENCES code_versions (id),
    number          text NOT NULL,
    title           text NOT NULL,
    description     text,
    -- Forced labour, trafficking, sexual assault, violence, child labour: the buyer is told at once.
    zero_tolerance  boolean NOT NULL DEFAULT false,
    UNIQUE (code_version_id, number)
);

CREATE TABLE suppliers (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    country        text,
    sector         text,
    program_status text NOT NULL CHECK (program_status IN ('participating', 'outside_program')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE buyers (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A supplier sells to several Signatory Buyers; all of them are escalation targets.
CREATE TABLE supplier_buyers (
    supplier_id integer NOT NULL REFERENCES suppliers (id),
    buyer_id    integer NOT NULL REFERENCES buyers (id),
    since       date,
    PRIMARY KEY (supplier_id, buyer_id)
);

CREATE TABLE buyer_contacts (
    id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    buyer_id integer NOT NULL REFERENCES buyers (id),
    kind     text NOT NULL CHECK (kind IN ('webhook', 'email')),
    name     text NOT NULL,
    address  text NOT NULL,
    active   boolean NOT NULL DEFAULT true,
    UNIQUE (buyer_id, kind, address)
);

CREATE TABLE staff (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL,
    display_name    text NOT NULL,
    role            text NOT NULL CHECK (role IN ('investigator', 'coordinator', 'admin')),
    team            text,
    -- The staff member's own work phone, rung by the on-call tiers. Not a worker's number.
    phone_e164      text CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    password_hash   text,
    failed_sign_ins integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_email_key ON staff (lower(email));

CREATE TABLE staff_languages (
    staff_id      integer NOT NULL REFERENCES staff (id),
    language_code text NOT NULL REFERENCES languages (code),
    PRIMARY KEY (staff_id, language_code)
);

-- The on-call rota: concrete shifts. Tier 1 rings first, then tier 2. time_zone is the IANA zone
-- the shift was planned in (shown to people); starts_at/ends_at are absolute instants.
CREATE TABLE oncall_shifts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id      integer NOT NULL REFERENCES staff (id),
    language_code text NOT NULL REFERENCES languages (code),
    tier          smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    time_zone     text NOT NULL,
    CHECK (ends_at > starts_at),
    UNIQUE (staff_id, language_code, tier, starts_at)
);
CREATE INDEX oncall_shifts_lookup ON oncall_shifts (language_code, tier, starts_at, ends_at);

-- A worker who called or texted. The phone number and name are PII: stored only encrypted
-- (AES-GCM, "keyId:base64" so keys can rotate) and found by a keyed HMAC of the number.
CREATE TABLE caller_identities (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_lookup       bytea NOT NULL UNIQUE,
    phone_encrypted    text NOT NULL,
    name_encrypted     text,
    preferred_language text REFERENCES languages (code),
    opted_out_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Digits only, so a worker can key it in on a phone; the last digit is a Luhn check digit.
    case_number         text NOT NULL UNIQUE CHECK (case_number ~ '^[0-9]{8}$'),
    pin_hash            text NOT NULL,
    pin_failed_attempts integer NOT NULL DEFAULT 0,
    pin_locked_until    timestamptz,
    channel             text NOT NULL CHECK (channel IN ('voice', 'sms', 'whatsapp', 'in_person', 'web')),
    language_code       text NOT NULL REFERENCES languages (code),
    severity            text NOT NULL DEFAULT 'standard'
                        CHECK (severity IN ('standard', 'retaliation', 'zero_tolerance')),
    -- The lifecycle of DESIGN.md, with its side exits.
    status              text NOT NULL DEFAULT 'received'
                        CHECK (status IN ('received', 'acknowledged', 'investigating', 'resolution_proposed',
                                          'resolved', 'verified', 'not_substantiated', 'rejected', 'referred')),
    caller_identity_id  bigint REFERENCES caller_identities (id),
    supplier_id         integer REFERENCES suppliers (id),
    -- An employer outside the Program, named by the worker: tracked to inform expansion.
    outside_supplier_name text,
    confidentiality     text NOT NULL DEFAULT 'confidential'
                        CHECK (confidentiality IN ('confidential', 'disclosure_consented', 'anonymous')),
    assigned_staff_id   integer REFERENCES staff (id),
    -- The only text that may ever reach a supplier or buyer.
    shareable_summary   text,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    last_activity_at    timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz
);
CREATE INDEX complaints_caller_open ON complaints (caller_identity_id)
    WHERE status NOT IN ('resolved', 'verified', 'not_substantiated', 'rejected', 'referred');
CREATE INDEX complaints_status ON complaints (status, language_code);

CREATE TABLE complaint_provisions (
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    provision_id integer NOT NULL REFERENCES provisions (id),
    PRIMARY KEY (complaint_id, provision_id)
);

-- One row per Twilio call; CallSid is the idempotency key for every webhook about it.
CREATE TABLE calls (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_sid           text NOT NULL UNIQUE,
    direction          text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller_identity_id bigint REFERENCES caller_identities (id),
    complaint_id       bigint REFERENCES complaints (id),
    language_code      text REFERENCES languages (code),
    status             text NOT NULL,
    answered_by        integer REFERENCES staff (id),
    started_at         timestamptz NOT NULL DEFAULT now(),
    answered_at        timestamptz,
    ended_at           timestamptz,
    duration_seconds   integer,
    recording_sid      text,
    -- Twilio's recording address is sensitive (it plays the worker's voice): encrypted like PII.
    recording_url_encrypted text
);
CREATE INDEX calls_complaint ON calls (complaint_id);

-- One row per SMS/WhatsApp message. Inbound: MessageSid is the idempotency key. Outbound: the row is
-- written first (status 'pending'), then sent; the sid arrives with Twilio's answer.
CREATE TABLE messages (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_sid        text UNIQUE,
    direction          text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel            text NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    caller_identity_id bigint REFERENCES caller_identities (id),
    complaint_id       bigint REFERENCES complaints (id),
    -- The worker's words: encrypted at rest like the number.
    body_encrypted     text,
    num_media          integer NOT NULL DEFAULT 0,
    status             text NOT NULL,
    error_code         integer,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_complaint ON messages (complaint_id, created_at);

-- The case file: append-only. Every transition, message, call, note, escalation and disclosure.
CREATE TABLE case_timeline (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('system', 'staff', 'worker', 'buyer')),
    actor_staff_id integer REFERENCES staff (id),
    kind         text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX case_timeline_complaint ON case_timeline (complaint_id, occurred_at);

CREATE FUNCTION case_timeline_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_timeline is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER case_timeline_append_only
    BEFORE UPDATE OR DELETE ON case_timeline
    FOR EACH ROW EXECUTE FUNCTION case_timeline_is_append_only();
CREATE TRIGGER case_timeline_no_truncate
    BEFORE TRUNCATE ON case_timeline
    FOR EACH STATEMENT EXECUTE FUNCTION case_timeline_is_append_only();

-- Deadlines are data: one row per clock. The sweep finds what is due through the partial index.
CREATE TABLE deadlines (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    kind         text NOT NULL,
    starts_at    timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    met_at       timestamptz,
    warned_at    timestamptz,
    breached_at  timestamptz,
    escalated_at timestamptz,
    CHECK (due_at >= starts_at)
);
CREATE UNIQUE INDEX deadlines_one_open_per_kind ON deadlines (complaint_id, kind) WHERE met_at IS NULL;
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE met_at IS NULL;

-- Escalations: a warning, an alert, or a delivery to a buyer. The unique key makes each one
-- happen exactly once per clock, level and target, however many schedulers run.
CREATE TABLE escalations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id    bigint NOT NULL REFERENCES complaints (id),
    deadline_id     bigint REFERENCES deadlines (id),
    level           text NOT NULL CHECK (level IN ('investigator_warning', 'coordinator_alert', 'buyer')),
    buyer_id        integer REFERENCES buyers (id),
    channel         text NOT NULL CHECK (channel IN ('console', 'email', 'webhook')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'acknowledged', 'action_taken')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    answered_at     timestamptz
);
CREATE UNIQUE INDEX escalations_once ON escalations
    (complaint_id, coalesce(deadline_id, 0), level, coalesce(buyer_id, 0), channel);
CREATE INDEX escalations_pending ON escalations (next_attempt_at) WHERE status IN ('pending', 'failed');
