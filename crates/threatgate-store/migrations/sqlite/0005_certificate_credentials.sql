-- Certificate credentials: the public part of a certificate whose private key signs an
-- application's client assertions. Thumbprints are upper-case hex, as shown to people.
CREATE TABLE certificate_credentials (
    key_id            TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL REFERENCES applications (app_id) ON DELETE CASCADE,
    description       TEXT NOT NULL,
    thumbprint        TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    certificate       BLOB NOT NULL,
    start_at          INTEGER NOT NULL,
    end_at            INTEGER NOT NULL,
    CONSTRAINT certificate_credentials_once UNIQUE (app_id, thumbprint_sha256)
);
CREATE INDEX certificate_credentials_by_app ON certificate_credentials (app_id);

CREATE TRIGGER certificate_credentials_changed_i AFTER INSERT ON certificate_credentials BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER certificate_credentials_changed_u AFTER UPDATE ON certificate_credentials BEGIN UPDATE directory_revision SET revision = revision + 1; END;
CREATE TRIGGER certificate_credentials_changed_d AFTER DELETE ON certificate_credentials BEGIN UPDATE directory_revision SET revision = revision + 1; END;
