-- Indexes for what hunting asks most (the KQL compiler writes its SQL so that they apply):
-- AlertInfo by alert id (each alert is recorded once when it arrives); the device tables by
-- device (joins on DeviceId, hunting's most common, look up the other side); process events
-- by file name ignoring case (`FileName =~ "…"`), then time, holding the device too (counting
-- a file's runs per device, or joining them to other device events, reads only the index);
-- and a term index of process command lines for `has`: the lower-cased text split into runs
-- of letters, digits and `_` (GIN over the array). Every term `has` sees is one of them, so
-- the index finds every row `has` does, and the compiler keeps the exact `has` test over what
-- it finds.
CREATE INDEX ah_alert_info_by_alert ON ah_alert_info (tenant_id, "AlertId");
CREATE INDEX ah_device_process_events_by_device ON ah_device_process_events (tenant_id, "DeviceId", "Timestamp");
-- Connections by device hold the port and the address, which joins from other device events
-- (processes, then their connections) filter and count.
CREATE INDEX ah_device_network_events_by_device ON ah_device_network_events (tenant_id, "DeviceId", "Timestamp", "RemotePort", "RemoteIP");
CREATE INDEX ah_device_file_events_by_device ON ah_device_file_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_logon_events_by_device ON ah_device_logon_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_registry_events_by_device ON ah_device_registry_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_info_by_device ON ah_device_info (tenant_id, "DeviceId", "Timestamp");
-- (FileName itself is included: PostgreSQL reads only the index when every column the query
-- names is in it, and it names FileName inside lower()).
CREATE INDEX ah_device_process_events_by_file ON ah_device_process_events (tenant_id, lower("FileName"), "Timestamp")
    INCLUDE ("FileName", "DeviceId", "DeviceName");
CREATE INDEX ah_device_process_events_terms ON ah_device_process_events
    USING gin (regexp_split_to_array(lower("ProcessCommandLine"), '[^a-z0-9_]+'));
