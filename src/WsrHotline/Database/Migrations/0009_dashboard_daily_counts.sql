-- Dashboard counts filtered by opening dates, without counting the complaints of the range per
-- request (at a million complaints, the last 30 days can hold 185,000 of them).
--
-- dashboard_daily_counts holds what dashboard_counts holds, per opening day (UTC): one row per
-- combination of a complaint's dimensions (provision_id null) or per complaint and provision;
-- dashboard_monthly_counts the same per opening month. A date filter sums the whole months inside its
-- range, then the whole days outside them, and counts only the partial days at its edges live.
-- The dashboard-snapshot job recounts only the days whose complaints changed, sums their months again,
-- and derives dashboard_counts (all time) from the months.
CREATE TABLE dashboard_daily_counts (
    opened_on             date NOT NULL,
    status                text NOT NULL,
    severity              text NOT NULL,
    language_code         text NOT NULL,
    supplier_id           integer,
    outside_supplier_name text,
    provision_id          integer,
    n                     integer NOT NULL
);
CREATE INDEX dashboard_daily_counts_day ON dashboard_daily_counts (opened_on);

CREATE TABLE dashboard_monthly_counts (
    opened_month          date NOT NULL CHECK (extract(day FROM opened_month) = 1),
    status                text NOT NULL,
    severity              text NOT NULL,
    language_code         text NOT NULL,
    supplier_id           integer,
    outside_supplier_name text,
    provision_id          integer,
    n                     integer NOT NULL
);
CREATE INDEX dashboard_monthly_counts_month ON dashboard_monthly_counts (opened_month);

-- The opening days to recompute: the triggers below append a row whenever a complaint is opened, or a
-- counted dimension of it (status, severity, language, supplier) or its provisions change. Append
-- only, no unique key: a refresh deletes the rows it has seen, and a row committed by a transaction
-- the refresh could not see yet stays for the next refresh, so no change is missed.
CREATE TABLE dashboard_changed_days (
    opened_on date NOT NULL
);

CREATE FUNCTION dashboard_note_opened_complaints() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_changed_days (opened_on)
        SELECT DISTINCT (opened_at AT TIME ZONE 'UTC')::date FROM changed_complaints;
    RETURN NULL;
END
$$;

CREATE TRIGGER complaints_dashboard_inserted AFTER INSERT ON complaints
    REFERENCING NEW TABLE AS changed_complaints
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_note_opened_complaints();
CREATE TRIGGER complaints_dashboard_deleted AFTER DELETE ON complaints
    REFERENCING OLD TABLE AS changed_complaints
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_note_opened_complaints();

-- Per row, and only when a counted column changed: a new message or a clock leaves it alone.
CREATE FUNCTION dashboard_note_changed_complaint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_changed_days (opened_on) VALUES ((NEW.opened_at AT TIME ZONE 'UTC')::date);
    IF OLD.opened_at IS DISTINCT FROM NEW.opened_at THEN
        INSERT INTO dashboard_changed_days (opened_on) VALUES ((OLD.opened_at AT TIME ZONE 'UTC')::date);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER complaints_dashboard_updated AFTER UPDATE ON complaints
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.severity IS DISTINCT FROM NEW.severity
          OR OLD.language_code IS DISTINCT FROM NEW.language_code
          OR OLD.supplier_id IS DISTINCT FROM NEW.supplier_id
          OR OLD.outside_supplier_name IS DISTINCT FROM NEW.outside_supplier_name
          OR OLD.opened_at IS DISTINCT FROM NEW.opened_at)
    EXECUTE FUNCTION dashboard_note_changed_complaint();

CREATE FUNCTION dashboard_note_changed_provisions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_changed_days (opened_on)
        SELECT DISTINCT (c.opened_at AT TIME ZONE 'UTC')::date
        FROM complaints c WHERE c.id IN (SELECT complaint_id FROM changed_provisions);
    RETURN NULL;
END
$$;

CREATE TRIGGER complaint_provisions_dashboard_inserted AFTER INSERT ON complaint_provisions
    REFERENCING NEW TABLE AS changed_provisions
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_note_changed_provisions();
CREATE TRIGGER complaint_provisions_dashboard_deleted AFTER DELETE ON complaint_provisions
    REFERENCING OLD TABLE AS changed_provisions
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_note_changed_provisions();

-- Every day that already has complaints is counted at the first refresh.
INSERT INTO dashboard_changed_days (opened_on)
    SELECT DISTINCT (opened_at AT TIME ZONE 'UTC')::date FROM complaints;
