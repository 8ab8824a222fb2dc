-- The term index of process command lines is written by the event writer, once per batch
-- (`INSERT INTO …_terms SELECT … WHERE rowid > <the batch's first>`), instead of by a trigger
-- per row, which made the inserts twice as slow. Deletes (retention) still go through the
-- delete trigger.
DROP TRIGGER ah_device_process_events_terms_insert;
