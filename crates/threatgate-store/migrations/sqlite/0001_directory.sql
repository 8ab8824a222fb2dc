-- The directory: tenants, users, applications and their credentials, service principals,
-- app role assignments, and the token signing keys.
--
-- Conventions: GUIDs are lower-case hyphenated TEXT; times are INTEGER Unix seconds (UTC).

-- One row, bumped by triggers on every change below, so that a server can notice changes
-- made by another process (an administration command, another node) with one cheap query.
CREATE TABLE directory_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO directory_revision (id, revision) VALUES (1, 0);

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Every domain that names a tenant in an endpoint path; domains are unique across tenants.
CREATE TABLE tenant_domains (
    domain     TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    is_initial INTEGER NOT NULL
);
CREATE INDEX tenant_domains_by_tenant ON tenant_domains (tenant_id);

CREATE TABLE users (
    object_id     TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    upn           TEXT NOT NULL CONSTRAINT users_upn_unique UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,   -- Argon2id PHC string
    role          TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_by_tenant ON users (tenant_id);

CREATE TABLE applications (
    app_id           TEXT PRIMARY KEY,
    object_id        TEXT NOT NULL UNIQUE,
    home_tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    sign_in_audience TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX applications_by_home_tenant ON applications (home_tenant_id);

CREATE TABLE application_redirect_uris (
    app_id   TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
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
    value_hash  BLOB NOT NULL,
    start_at    INTEGER NOT NULL,
    end_at      INTEGER NOT NULL
);
CREATE INDEX client_secrets_by_app ON client_secrets (app_id);

-- An application's (or the built-in resource's) presence in a tenant. app_id is not a
-- foreign key: built-in resources have no application row.
CREATE TABLE service_principals (
    object_id    TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    app_id       TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    CONSTRAINT service_principals_one_per_app UNIQUE (tenant_id, app_id)
);

CREATE TABLE app_role_assignments (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL REFERENCES service_principals (object_id) ON DELETE CASCADE,
    resource_id  TEXT NOT NULL REFERENCES service_principals (object_id) ON DELETE CASCADE,
    app_role_id  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    CONSTRAINT app_role_assignments_once UNIQUE (principal_id, resource_id, app_role_id)
);
CREATE INDEX app_role_assignments_by_tenant ON app_role_assignments (tenant_id);

-- RSA signing keys: PKCS#8 private key and the self-signed certificate that names the key.
-- A key signs from activates_at on, and is published until retired_at.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_key  BLOB NOT NULL,
    certificate  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    retired_at   INTEGER
);

CREATE TRIGGER tenants_changed_i AFTER INSERT ON tenants BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER tenants_changed_u AFTER UPDATE ON tenants BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER tenants_changed_d AFTER DELETE ON tenants BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_domains_changed_i AFTER INSERT ON tenant_domains BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_domains_changed_u AFTER UPDATE ON tenant_domains BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_domains_changed_d AFTER DELETE ON tenant_domains BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER users_changed_i AFTER INSERT ON users BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER users_changed_u AFTER UPDATE ON users BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER users_changed_d AFTER DELETE ON users BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER applications_changed_i AFTER INSERT ON applications BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER applications_changed_u AFTER UPDATE ON applications BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER applications_changed_d AFTER DELETE ON applications BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_redirect_uris_changed_i AFTER INSERT ON application_redirect_uris BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_redirect_uris_changed_u AFTER UPDATE ON application_redirect_uris BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_redirect_uris_changed_d AFTER DELETE ON application_redirect_uris BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_required_roles_changed_i AFTER INSERT ON application_required_roles BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_required_roles_changed_u AFTER UPDATE ON application_required_roles BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER application_required_roles_changed_d AFTER DELETE ON application_required_roles BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER client_secrets_changed_i AFTER INSERT ON client_secrets BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER client_secrets_changed_u AFTER UPDATE ON client_secrets BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER client_secrets_changed_d AFTER DELETE ON client_secrets BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER service_principals_changed_i AFTER INSERT ON service_principals BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER service_principals_changed_u AFTER UPDATE ON service_principals BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER service_principals_changed_d AFTER DELETE ON service_principals BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER app_role_assignments_changed_i AFTER INSERT ON app_role_assignments BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER app_role_assignments_changed_u AFTER UPDATE ON app_role_assignments BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER app_role_assignments_changed_d AFTER DELETE ON app_role_assignments BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER signing_keys_changed_i AFTER INSERT ON signing_keys BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER signing_keys_changed_u AFTER UPDATE ON signing_keys BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER signing_keys_changed_d AFTER DELETE ON signing_keys BEGIN UPDATE directory_revision SET revision = revision + 1; END;
