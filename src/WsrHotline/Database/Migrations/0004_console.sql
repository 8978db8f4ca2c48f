-- The live console: events for the consoles and dashboards (an outbox carried by NOTIFY), who is
-- connected and available, and the call offers made to the console before the phone tiers ring.

-- One row per live event, written in the same transaction as the change that causes it. The insert
-- trigger NOTIFYs the id (delivered at commit, so a rolled-back change never shows); every app
-- instance LISTENs and forwards the event to its own SignalR connections; a console that reconnects
-- asks for the rows after the last id it saw. Payloads carry ids and labels, never a worker's
-- number, name or words (the console fetches those through authorized endpoints).
CREATE TABLE console_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    -- The SignalR group that may see it: 'all', 'lang:es', 'role:coordinator', 'staff:7', 'team:north'.
    audience     text NOT NULL,
    complaint_id bigint REFERENCES complaints (id),
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_events_audience ON console_events (audience, id);

CREATE FUNCTION console_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_events', NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER console_events_notify
    AFTER INSERT ON console_events
    FOR EACH ROW EXECUTE FUNCTION console_events_notify();

-- What an investigator said about themselves: available, busy or away, and how a call reaches them.
CREATE TABLE staff_presence (
    staff_id    integer PRIMARY KEY REFERENCES staff (id),
    status      text NOT NULL DEFAULT 'away' CHECK (status IN ('available', 'busy', 'away')),
    answer_mode text NOT NULL DEFAULT 'browser' CHECK (answer_mode IN ('browser', 'phone')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Open SignalR connections, on whichever instance. An instance refreshes last_seen_at for its own
-- connections; a row not refreshed for a minute belongs to an instance that died.
CREATE TABLE console_connections (
    connection_id text PRIMARY KEY,
    staff_id      integer NOT NULL REFERENCES staff (id),
    instance_id   text NOT NULL,
    connected_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_connections_staff ON console_connections (staff_id, last_seen_at);

-- A call offered to the console: the caller waits in their queue while the consoles of available
-- investigators of the language ring; the first "Accept" claims it (calls.answered_by), and when
-- the offer expires unclaimed the phone tiers take over.
ALTER TABLE calls
    ADD COLUMN console_offered_at  timestamptz,
    ADD COLUMN console_offer_until timestamptz;

-- A case restricted to one team (for example a case about a colleague): investigators of other
-- teams cannot open it. Coordinators and admins can.
ALTER TABLE complaints ADD COLUMN restricted_team text;

-- When the staff member last signed in (shown to admins beside the lock-out).
ALTER TABLE staff ADD COLUMN last_sign_in_at timestamptz;
