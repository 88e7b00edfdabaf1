-- Software profiles (issue #3) and archived server-generated keys, sealed under the master key.
CREATE TABLE profiles (
    uuid         TEXT PRIMARY KEY,
    template     TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    user_uuid    TEXT NOT NULL,
    parent_uuid  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    request_uuid TEXT NOT NULL,
    created      INTEGER NOT NULL,
    version      INTEGER NOT NULL
);
CREATE INDEX profiles_user ON profiles (user_uuid);
CREATE INDEX profiles_request ON profiles (request_uuid);
CREATE INDEX certificates_profile ON certificates (profile_uuid);

CREATE TABLE archived_keys (
    serial TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
