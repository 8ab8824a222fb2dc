-- In its own database file (threatgate-access-log.db next to threatgate.db): a stream of
-- small appends would otherwise keep the main database's write-ahead log busy, and every read of
-- incidents would pay for looking pages up in it.

-- The partner access log: one row per call of the Threat Protection API by an application
-- whose token verified (so the tenant is known), whatever the result.
--
-- Append-only: rows are never updated, and only the retention cleanup deletes them, never a
-- row younger than a day. `at` is in 100 ns ticks since the Unix epoch.
CREATE TABLE access_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    tenant_id       TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    app_name        TEXT NOT NULL,
    operation       TEXT NOT NULL,
    incident_id     INTEGER,          -- the incident of a get or an update
    incident_ids    TEXT NOT NULL,    -- every incident the call returned or changed, comma-separated
    status          INTEGER NOT NULL, -- the HTTP status answered
    result          TEXT NOT NULL,
    detail          TEXT NOT NULL,    -- the query string of a list, the fields of an update
    request_id      TEXT NOT NULL,
    client_address  TEXT
);
CREATE INDEX access_log_by_tenant ON access_log (tenant_id, id DESC);
CREATE INDEX access_log_by_incident ON access_log (tenant_id, incident_id, id DESC) WHERE incident_id IS NOT NULL;
CREATE INDEX access_log_by_time ON access_log (at);

CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

CREATE TRIGGER access_log_no_early_delete BEFORE DELETE ON access_log
WHEN OLD.at > (unixepoch() - 86400) * 10000000
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only: entries younger than a day cannot be deleted');
END;
