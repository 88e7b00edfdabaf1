-- Claim, record, then sign (issue #6): a serial is recorded (status 4, reserved) before the CA
-- signs it, so the certificate's own columns are empty until it is signed. SQLite cannot relax
-- NOT NULL in place; the table is rebuilt with the same rows.
CREATE TABLE certificates_new (
    serial            TEXT PRIMARY KEY,
    request_uuid      TEXT NOT NULL,
    profile_uuid      TEXT NOT NULL,
    user_uuid         TEXT NOT NULL,
    template          TEXT NOT NULL,
    der               BLOB NULL,
    thumbprint        TEXT NULL,
    not_before        INTEGER NULL,
    not_after         INTEGER NULL,
    status            INTEGER NOT NULL,
    revoked_at        INTEGER NULL,
    revocation_reason INTEGER NULL
);
INSERT INTO certificates_new SELECT serial, request_uuid, profile_uuid, user_uuid, template, der, thumbprint, not_before, not_after, status, revoked_at, revocation_reason FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_new RENAME TO certificates;
CREATE INDEX certificates_request ON certificates (request_uuid);
CREATE INDEX certificates_user ON certificates (user_uuid);
CREATE INDEX certificates_profile ON certificates (profile_uuid);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
