-- Deleting Twilio's copy of a stored voicemail is tried a bounded number of times, like the copy:
-- after the last try the hotline stops asking, and the case timeline says Twilio still holds it.
ALTER TABLE voicemail_recordings
    ADD COLUMN delete_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN delete_gave_up_at timestamptz;
