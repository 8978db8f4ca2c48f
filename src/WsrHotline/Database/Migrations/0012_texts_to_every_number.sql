-- Texts to every hotline number: the toll-free number takes SMS too, and a text to a number the
-- configuration does not name is kept (and flagged for an admin) rather than dropped.

-- The hotline number the worker last texted on this conversation (Twilio's To): replies go from it,
-- so a worker who texted the number on the poster hears back from that number. NULL: the channel's
-- configured number (Hotline:SmsNumber, Hotline:WhatsAppSender). The hotline's own number, not PII.
ALTER TABLE conversations ADD COLUMN hotline_number text;

-- An inbound text to a number that is none of Hotline:TollFreeNumber, SmsNumber, WhatsAppSender:
-- stored and answered like any other, and counted for an admin (a number's webhook to fix).
ALTER TABLE messages ADD COLUMN to_unconfigured_number boolean NOT NULL DEFAULT false;
CREATE INDEX messages_to_unconfigured_number ON messages (created_at) WHERE to_unconfigured_number;
