-- Staff sign-in throttling (Staff/StaffSignIn.cs has the rule). Counted per e-mail as typed, known
-- or not, so an unknown address is tracked exactly like a staff member's: one row per (e-mail,
-- source address) pair, per source address, and per e-mail across addresses. The e-mail is kept as a
-- keyed hash (PiiProtector.LookupHash), never in clear: attackers type other people's addresses.
CREATE TABLE sign_in_throttle (
    scope             text NOT NULL CHECK (scope IN ('account', 'address', 'pair')),
    account_key       text NOT NULL,
    address           text NOT NULL,
    failures          integer NOT NULL DEFAULT 0,
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz,
    PRIMARY KEY (scope, account_key, address)
);
-- Rows whose window and lock are over are deleted as sign-ins go by.
CREATE INDEX sign_in_throttle_window ON sign_in_throttle (window_started_at);

-- The lock-out now lives in sign_in_throttle (per e-mail and address); these were per account only.
ALTER TABLE staff DROP COLUMN failed_sign_ins, DROP COLUMN locked_until;
