-- OpenCM schema, SQLite. GUIDs are lower-case text, times are UTC ticks, booleans 0/1: the same
-- representation as the PostgreSQL schema, so the SQL stores run unchanged on both.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('rid', 999);

CREATE TABLE secrets (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE principals (
    uuid     TEXT PRIMARY KEY,
    kind     INTEGER NOT NULL,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    sid      TEXT NOT NULL UNIQUE,
    created  INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_uuid  TEXT NOT NULL,
    group_uuid TEXT NOT NULL,
    PRIMARY KEY (user_uuid, group_uuid)
);

CREATE TABLE templates (
    uuid     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    version  INTEGER NOT NULL,
    body     TEXT NOT NULL,
    updated  INTEGER NOT NULL
);

-- seq is the insertion order: the keyset that list paging walks.
CREATE TABLE requests (
    seq                   INTEGER PRIMARY KEY,
    uuid                  TEXT NOT NULL UNIQUE,
    type                  INTEGER NOT NULL,
    status                INTEGER NOT NULL,
    flags                 INTEGER NOT NULL,
    data_collection       TEXT NOT NULL,
    data_collection_flags INTEGER NOT NULL,
    originator            TEXT NOT NULL,
    target                TEXT NOT NULL,
    submitted             INTEGER NOT NULL,
    completed             INTEGER NULL,
    new_profile           TEXT NOT NULL,
    old_profile           TEXT NOT NULL,
    new_card              TEXT NOT NULL,
    old_card              TEXT NOT NULL,
    priority              INTEGER NOT NULL,
    comment               TEXT NOT NULL,
    template              TEXT NOT NULL,
    descriptor            TEXT NOT NULL,
    data_complete         INTEGER NOT NULL,
    approvals_needed      INTEGER NOT NULL,
    votes                 TEXT NOT NULL,
    version               INTEGER NOT NULL
);

-- Who may list a request: every SID its descriptor lets read it. A page for a caller is an
-- ordered range scan per SID of the caller's token, so it stays fast at millions of requests.
CREATE TABLE request_readers (
    sid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (sid, seq)
) WITHOUT ROWID;

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    old_status  INTEGER NOT NULL,
    new_status  INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    correlation TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);

-- The audit log is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
