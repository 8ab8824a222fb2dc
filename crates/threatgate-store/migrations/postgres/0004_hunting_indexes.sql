-- Indexes for what hunting asks most (the KQL compiler writes its SQL so that they apply):
-- AlertInfo by alert id (each alert is recorded once when it arrives); process events by file
-- name ignoring case (`FileName =~ "…"`), then time; and a term index of process command
-- lines for `has`: the lower-cased text split into runs of letters, digits and `_` (GIN over
-- the array). Every term `has` sees is one of them, so the index finds every row `has` does,
-- and the compiler keeps the exact `has` test over what it finds.
CREATE INDEX ah_alert_info_by_alert ON ah_alert_info (tenant_id, "AlertId");
CREATE INDEX ah_device_process_events_by_file ON ah_device_process_events (tenant_id, lower("FileName"), "Timestamp");
CREATE INDEX ah_device_process_events_terms ON ah_device_process_events
    USING gin (regexp_split_to_array(lower("ProcessCommandLine"), '[^a-z0-9_]+'));
