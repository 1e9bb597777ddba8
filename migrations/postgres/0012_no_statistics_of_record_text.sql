-- The journal's lines and the webhook messages' envelopes are read whole by
-- key and never searched: statistics of them guide no plan, and gathering
-- them was two thirds of an ANALYZE of the journal (the one after a bulk
-- import, and autovacuum's).
ALTER TABLE journal ALTER COLUMN record SET STATISTICS 0;
ALTER TABLE webhook_events ALTER COLUMN payload SET STATISTICS 0;
