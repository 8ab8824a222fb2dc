-- Threatgate on PostgreSQL: the same tables as the SQLite backend, in one database (the access
-- log and audit events need no file of their own here: PostgreSQL's MVCC keeps readers and the
-- batched appends apart).
--
-- Conventions, as in SQLite: GUIDs are lower-case hyphenated TEXT; directory times are BIGINT
-- Unix seconds; incident, access-log and audit times are BIGINT 100 ns ticks since the Unix
-- epoch. Only ordinary SQL and PL/pgSQL, so PostgreSQL-compatible distributed databases fit.

-- One row, bumped by triggers on every change to the directory or the signing keys, so that
-- every node notices changes made elsewhere with one cheap query.
CREATE TABLE directory_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO directory_revision (id, revision) VALUES (1, 0);

CREATE FUNCTION bump_directory_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Every domain that names a tenant in an endpoint path; domains are unique across tenants.
CREATE TABLE tenant_domains (
    domain     TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    is_initial BOOLEAN NOT NULL
);
CREATE INDEX tenant_domains_by_tenant ON tenant_domains (tenant_id);

CREATE TABLE users (
    object_id     TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    upn           TEXT NOT NULL CONSTRAINT users_upn_unique UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,   -- Argon2id PHC string
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_by_tenant ON users (tenant_id);

CREATE TABLE applications (
    app_id           TEXT PRIMARY KEY,
    object_id        TEXT NOT NULL UNIQUE,
    home_tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    sign_in_audience TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX applications_by_home_tenant ON applications (home_tenant_id);

CREATE TABLE application_redirect_uris (
    app_id   TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    uri      TEXT NOT NULL,
    PRIMARY KEY (app_id, position)
);

-- requiredResourceAccess, application permissions only.
CREATE TABLE application_required_roles (
    app_id          TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    resource_app_id TEXT NOT NULL,
    app_role_id     TEXT NOT NULL,
    PRIMARY KEY (app_id, resource_app_id, app_role_id)
);

-- Only a keyed hash of each secret is kept; the value is shown once at creation.
CREATE TABLE client_secrets (
    key_id      TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    hint        TEXT NOT NULL,
    value_hash  BYTEA NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL
);
CREATE INDEX client_secrets_by_app ON client_secrets (app_id);

-- The public part of certificates whose keys sign client assertions; thumbprints in hex.
CREATE TABLE certificate_credentials (
    key_id            TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    description       TEXT NOT NULL,
    thumbprint        TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    certificate       BYTEA NOT NULL,
    start_at          BIGINT NOT NULL,
    end_at            BIGINT NOT NULL,
    CONSTRAINT certificate_credentials_once UNIQUE (app_id, thumbprint_sha256)
);
CREATE INDEX certificate_credentials_by_app ON certificate_credentials (app_id);

-- An application's (or the built-in resource's) presence in a tenant. app_id is not a
-- foreign key: built-in resources have no application row.
CREATE TABLE service_principals (
    object_id    TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    app_id       TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    consented_by TEXT,
    consented_at BIGINT,
    CONSTRAINT service_principals_one_per_app UNIQUE (tenant_id, app_id)
);

CREATE TABLE app_role_assignments (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL REFERENCES service_principals (object_id) ON DELETE CASCADE,
    resource_id  TEXT NOT NULL REFERENCES service_principals (object_id) ON DELETE CASCADE,
    app_role_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT app_role_assignments_once UNIQUE (principal_id, resource_id, app_role_id)
);
CREATE INDEX app_role_assignments_by_tenant ON app_role_assignments (tenant_id);
CREATE INDEX app_role_assignments_by_resource ON app_role_assignments (resource_id);

-- RSA signing keys: the private key (sealed under the key-encryption key) and the
-- self-signed certificate that names it. A key signs from activates_at on, and is published
-- until retired_at.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_key  BYTEA NOT NULL,
    certificate  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retired_at   BIGINT
);

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER tenant_domains_changed AFTER INSERT OR UPDATE OR DELETE ON tenant_domains FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER applications_changed AFTER INSERT OR UPDATE OR DELETE ON applications FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER application_redirect_uris_changed AFTER INSERT OR UPDATE OR DELETE ON application_redirect_uris FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER application_required_roles_changed AFTER INSERT OR UPDATE OR DELETE ON application_required_roles FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER client_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON client_secrets FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER certificate_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON certificate_credentials FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER service_principals_changed AFTER INSERT OR UPDATE OR DELETE ON service_principals FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER app_role_assignments_changed AFTER INSERT OR UPDATE OR DELETE ON app_role_assignments FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision();

-- Incidents, their alerts, and the entity keys that correlate alerts. `document` holds the
-- incident exactly as served, rebuilt on every change.
CREATE TABLE incidents (
    incident_id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,  -- one sequence for all tenants
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    assigned_to      TEXT,
    created_time     BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    last_activity    BIGINT NOT NULL,   -- latest alert activity: the correlation window
    document         TEXT NOT NULL
);
-- The list order (spec README decision 6) and the partner's poll on lastUpdateTime.
CREATE INDEX incidents_by_update ON incidents (tenant_id, last_update_time DESC, incident_id DESC);
CREATE INDEX incidents_by_creation ON incidents (tenant_id, created_time);

CREATE TABLE alerts (
    tenant_id   TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE INDEX alerts_by_incident ON alerts (incident_id);

-- Which incidents hold an entity (device, user, file hash, address…), for correlation.
CREATE TABLE incident_entities (
    tenant_id   TEXT NOT NULL,
    entity_key  TEXT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, entity_key, incident_id)
);
CREATE INDEX incident_entities_by_incident ON incident_entities (incident_id);

-- Portal sessions: only a SHA-256 hash of the cookie value.
CREATE TABLE portal_sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (object_id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    upn         TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

-- The partner access log: one row per API call by a verified caller. Append-only.
CREATE TABLE access_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    app_name        TEXT NOT NULL,
    operation       TEXT NOT NULL,
    incident_id     BIGINT,          -- the incident of a get or an update
    incident_ids    TEXT NOT NULL,   -- every incident the call returned or changed, comma-separated
    status          BIGINT NOT NULL,
    result          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    client_address  TEXT
);
CREATE INDEX access_log_by_tenant ON access_log (tenant_id, id DESC);
CREATE INDEX access_log_by_incident ON access_log (tenant_id, incident_id, id DESC) WHERE incident_id IS NOT NULL;
CREATE INDEX access_log_by_time ON access_log (at);
CREATE INDEX access_log_by_app ON access_log (app_id, at DESC);

-- The audit trail beyond API calls. Append-only.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
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

-- Append-only: no update, and no delete of a record younger than a day (the retention
-- cleanup's bound, repeated in its DELETE so that it never trips this).
CREATE FUNCTION refuse_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
    END IF;
    IF OLD.at > (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 10000000 THEN
        RAISE EXCEPTION '% is append-only: records younger than a day cannot be deleted', TG_TABLE_NAME;
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log FOR EACH ROW EXECUTE FUNCTION refuse_log_change();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_log_change();
