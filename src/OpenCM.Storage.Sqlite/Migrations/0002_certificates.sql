-- Issued certificates (issue #3). serial is upper-case hex; status: 0 issued by an open execution,
-- 1 current, 2 superseded or retired, 3 revoked.
CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,
    request_uuid      TEXT NOT NULL,
    profile_uuid      TEXT NOT NULL,
    user_uuid         TEXT NOT NULL,
    template          TEXT NOT NULL,
    der               BLOB NOT NULL,
    thumbprint        TEXT NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    revoked_at        INTEGER NULL,
    revocation_reason INTEGER NULL
);
CREATE INDEX certificates_request ON certificates (request_uuid);
CREATE INDEX certificates_user ON certificates (user_uuid);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

INSERT INTO counters (name, value) VALUES ('crl', 0);
