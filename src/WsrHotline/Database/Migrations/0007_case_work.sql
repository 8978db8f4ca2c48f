-- Case work in the console: private notes, the worker's recorded decisions about disclosure, and a
-- version number for the shareable summary (its edits are on the timeline by version, not by text).

-- An investigator's private notes on a case. Never shareable: they stay inside the monitoring
-- organization. The text is encrypted like a worker's words (purpose "case.note"): a note often
-- repeats them. The texts a transition requires (a resolution's outcome, a rejection's grounds, to
-- whom a case was referred) are notes of their own kind, so the timeline can point at them.
CREATE TABLE case_notes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id   bigint NOT NULL REFERENCES complaints (id),
    staff_id       integer NOT NULL REFERENCES staff (id),
    kind           text NOT NULL DEFAULT 'note'
                   CHECK (kind IN ('note', 'resolution_outcome', 'rejection_grounds', 'referral')),
    body_encrypted text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_notes_complaint ON case_notes (complaint_id, created_at);

-- What the worker decided about disclosure, as the investigator recorded it after explaining the
-- risk (DESIGN.md, "Complainant confidentiality"). A fixed vocabulary, so no words of the worker's
-- are kept here; the latest decision is the one in force.
CREATE TABLE disclosure_decisions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    decision     text NOT NULL
                 CHECK (decision IN ('may_share_name_with_supplier', 'may_share_details', 'refuses_disclosure')),
    recorded_by  integer NOT NULL REFERENCES staff (id),
    how          text NOT NULL CHECK (how IN ('phone', 'text', 'in_person')),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disclosure_decisions_complaint ON disclosure_decisions (complaint_id, recorded_at);

-- Each edit of complaints.shareable_summary counts up; the timeline records the version and length.
ALTER TABLE complaints ADD COLUMN shareable_summary_version integer NOT NULL DEFAULT 0;
