-- Dashboard figures computed live when filtered (the unfiltered ones come from the snapshot):
-- complaints opened in a date range, and resolution times per language, without a scan of every
-- complaint. The resolution index covers the query (index-only scan: opened_at and status included).
CREATE INDEX complaints_opened_at ON complaints (opened_at);
CREATE INDEX complaints_resolution_by_language ON complaints (language_code, closed_at) INCLUDE (opened_at, status)
    WHERE status IN ('resolved', 'verified');
