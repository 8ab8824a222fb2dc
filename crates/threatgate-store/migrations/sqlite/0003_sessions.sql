-- Portal sessions. Only a SHA-256 hash of the cookie value is kept, so a copy of the database
-- does not hold usable session cookies.
CREATE TABLE portal_sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (object_id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    upn         TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);
