-- A transfer to the queue of another hotline language (issue 15): the call rings the consoles of
-- everyone who may take it in that language. While it rings, transfer_to_language names the queue
-- and transfer_to_staff_id is null; the first to accept becomes transfer_to_staff_id and is dialled
-- in as in a warm transfer to a colleague. Once they are in the conference, the call's language_code
-- becomes transfer_to_language and the three transfer columns are cleared.
ALTER TABLE calls
    ADD COLUMN transfer_to_language text REFERENCES languages (code);
