-- Incidents, their alerts, and the entity keys that correlate alerts.
--
-- Times are INTEGER 100 ns ticks since the Unix epoch (the API prints 7 fractional digits).
-- `document` holds the incident exactly as served (without `@odata.context`), rebuilt on
-- every change, so that listing is one indexed query with nothing to assemble.

CREATE TABLE incidents (
    incident_id      INTEGER PRIMARY KEY AUTOINCREMENT,   -- one sequence for all tenants
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    assigned_to      TEXT,
    created_time     INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    last_activity    INTEGER NOT NULL,                    -- latest alert activity: the correlation window
    document         TEXT NOT NULL
);
-- The list order (spec README decision 6) and the partner's poll on lastUpdateTime.
CREATE INDEX incidents_by_update ON incidents (tenant_id, last_update_time DESC, incident_id DESC);
CREATE INDEX incidents_by_creation ON incidents (tenant_id, created_time);

CREATE TABLE alerts (
    tenant_id   TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX alerts_by_incident ON alerts (incident_id);

-- Which incidents hold an entity (device, user, file hash, address…), for correlation.
CREATE TABLE incident_entities (
    tenant_id   TEXT NOT NULL,
    entity_key  TEXT NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, entity_key, incident_id)
) WITHOUT ROWID;
CREATE INDEX incident_entities_by_incident ON incident_entities (incident_id);
