-- Indexes for what hunting asks most (the KQL compiler writes its SQL so that they apply):
-- AlertInfo by alert id (each alert is recorded once when it arrives); the device tables by
-- device (joins on DeviceId, hunting's most common, look up the other side); process events
-- by file name ignoring case (`FileName =~ "…"`), then time, holding the device too (counting
-- a file's runs per device, or joining them to other device events, reads only the index);
-- and a term index of process command lines for `has` (FTS5 over the table's rows, kept by
-- triggers). Terms are runs of letters, digits and `_`, case-folded: every term `has` sees is
-- one of them, so the index finds every row `has` does, and the compiler keeps the exact
-- `has` test over what it finds.
CREATE INDEX ah_alert_info_by_alert ON ah_alert_info (tenant_id, "AlertId");
CREATE INDEX ah_device_process_events_by_device ON ah_device_process_events (tenant_id, "DeviceId", "Timestamp");
-- Connections by device hold the port and the address, which joins from other device events
-- (processes, then their connections) filter and count.
CREATE INDEX ah_device_network_events_by_device ON ah_device_network_events (tenant_id, "DeviceId", "Timestamp", "RemotePort", "RemoteIP");
CREATE INDEX ah_device_file_events_by_device ON ah_device_file_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_logon_events_by_device ON ah_device_logon_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_registry_events_by_device ON ah_device_registry_events (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_info_by_device ON ah_device_info (tenant_id, "DeviceId", "Timestamp");
CREATE INDEX ah_device_process_events_by_file ON ah_device_process_events (tenant_id, lower("FileName"), "Timestamp", "DeviceId", "DeviceName");

CREATE VIRTUAL TABLE ah_device_process_events_terms USING fts5(
    "ProcessCommandLine",
    content = 'ah_device_process_events',
    content_rowid = 'rowid',
    tokenize = "unicode61 remove_diacritics 0 tokenchars '_'",
    detail = 'none'
);
CREATE TRIGGER ah_device_process_events_terms_insert AFTER INSERT ON ah_device_process_events BEGIN
    INSERT INTO ah_device_process_events_terms (rowid, "ProcessCommandLine") VALUES (new.rowid, new."ProcessCommandLine");
END;
CREATE TRIGGER ah_device_process_events_terms_delete AFTER DELETE ON ah_device_process_events BEGIN
    INSERT INTO ah_device_process_events_terms (ah_device_process_events_terms, rowid, "ProcessCommandLine")
    VALUES ('delete', old.rowid, old."ProcessCommandLine");
END;
