-- The audit trail beyond API calls (those are in access_log): directory changes, credentials
-- added or removed, consents given or revoked, tokens issued. Never a secret or a token.
--
-- tenant_id is where it happened (the customer's tenant for a consent or a token, the home
-- tenant for an application's own changes); app_tenant_id is the application's home tenant,
-- so that a partner sees what its applications did in every tenant.
--
-- Append-only, as access_log: no update, and no delete of a row younger than a day.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,  -- 100 ns ticks since the Unix epoch
    tenant_id      TEXT NOT NULL,
    app_id         TEXT,
    app_tenant_id  TEXT,
    app_name       TEXT NOT NULL,
    category       TEXT NOT NULL,
    operation      TEXT NOT NULL,
    actor          TEXT NOT NULL,
    target         TEXT NOT NULL,
    result         TEXT NOT NULL,
    detail         TEXT NOT NULL,
    client_address TEXT
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, at DESC);
CREATE INDEX audit_events_by_app_tenant ON audit_events (app_tenant_id, at DESC) WHERE app_tenant_id IS NOT NULL;
CREATE INDEX audit_events_by_time ON audit_events (at);

-- A partner reads its applications' API calls in every tenant.
CREATE INDEX access_log_by_app ON access_log (app_id, at DESC);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TRIGGER audit_events_no_early_delete BEFORE DELETE ON audit_events
WHEN OLD.at > (unixepoch() - 86400) * 10000000
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: records younger than a day cannot be deleted');
END;
